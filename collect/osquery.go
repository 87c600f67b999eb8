package collect

import (
	"context"
	"fmt"

	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/live"
	"github.com/tsclientwatch/tsclientwatch/source/osqueryevents"
)

// OsqueryOpener returns an Options.OpenOsquery that reads osquery's process
// event tables through socket (the extension's --socket), or through the
// socket a source names.
func OsqueryOpener(socket string) func(ctx context.Context, sc config.SourceConfig, resume string) (LiveWatcher, error) {
	return func(ctx context.Context, sc config.SourceConfig, resume string) (LiveWatcher, error) {
		sock := sc.Socket
		if sock == "" {
			sock = socket
		}
		w, err := osqueryevents.Open(ctx, osqueryevents.Options{Socket: sock, Table: sc.Table, Interval: sc.Interval, Resume: resume})
		if err != nil {
			return nil, err
		}
		return &osqueryWatcher{w: w, socket: sock}, nil
	}
}

// osqueryWatcher shows an osquery source in the status table like a live
// watcher.
type osqueryWatcher struct {
	w      *osqueryevents.Watcher
	socket string
}

func (o *osqueryWatcher) Run(ctx context.Context, sink source.Sink) error { return o.w.Run(ctx, sink) }
func (o *osqueryWatcher) Close() error                                    { return o.w.Close() }
func (o *osqueryWatcher) Cursor() string                                  { return o.w.Cursor() }
func (o *osqueryWatcher) Stats() live.Stats {
	st := o.w.Stats()
	return live.Stats{
		Mechanism: config.SourceOsquery,
		Detail:    fmt.Sprintf("%s at %s (%d polls)", st.Table, o.socket, st.Polls),
		Events:    st.Events,
		Lost:      st.Bad,
		Warning:   st.Warning,
	}
}
