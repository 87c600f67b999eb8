//go:build windows && (amd64 || arm64)

package live

import (
	"context"

	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/live/etw"
)

func openETW() (Watcher, error) {
	w, err := etw.Open()
	if err != nil {
		return nil, err
	}
	return &etwWatcher{w: w}, nil
}

type etwWatcher struct{ w *etw.Watcher }

func (e *etwWatcher) Name() string                                    { return ETW }
func (e *etwWatcher) Run(ctx context.Context, sink source.Sink) error { return e.w.Run(ctx, sink) }
func (e *etwWatcher) Close() error                                    { return e.w.Close() }
func (e *etwWatcher) Stats() Stats                                    { return etwStats(e.w.Stats()) }
