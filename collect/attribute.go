package collect

import (
	"context"

	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/session"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/file"
)

// learnSessions reads the file sources once for their session events only,
// prefiltered on session.Needles, before any of them is replayed or
// followed: a replay of Sysmon's log then finds the logons of the Security
// log configured after it (or beside it in a directory, whichever sorts
// first). Live sources need no such pass: on a live host the session
// events come before the processes they own. What cannot be read is left
// for the source's own read to report.
func (c *Collector) learnSessions(ctx context.Context) {
	for _, s := range c.sources {
		if s.cfg.Type != config.SourceFile || ctx.Err() != nil {
			continue
		}
		file.ReadPaths(ctx, []string{s.cfg.Path}, file.Options{
			Sink: source.Sink{Event: func(ev *detector.Event) error {
				c.tracker.Add(ev)
				return nil
			}},
			Prefilter: true,
			Needles:   session.Needles(),
			// A pipe or device is read once, by its source; its session
			// events are learned then.
			SkipOnce:       true,
			MaxRecordBytes: c.opts.MaxRecordBytes,
			MaxSpool:       c.opts.MaxSpool,
		})
	}
}

// Sessions returns the tracker's figures: the session events held and
// what its cap dropped.
func (c *Collector) Sessions() session.Stats { return c.tracker.Stats() }
