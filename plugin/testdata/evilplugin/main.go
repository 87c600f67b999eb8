// Command evilplugin is a plugin that misbehaves on purpose when a batch
// holds an event whose executable contains one of the markers below. Tests
// use it to check that the host survives a plugin that crashes, hangs or
// answers too much on one particular batch, and still answers the others.
package main

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/plugin"
)

// Markers, matched in Event.Executable.
const (
	markExit  = "EVIL-EXIT"  // the process exits at once
	markPanic = "EVIL-PANIC" // a goroutine panics: the process dies with a stack trace
	markHang  = "EVIL-HANG"  // the batch never gets an answer
	markHuge  = "EVIL-HUGE"  // the answer would exceed the message limit
	markSlow  = "EVIL-SLOW"  // the answer comes after a moment, keeping other batches in flight
	markThrow = "EVIL-THROW" // Detect itself panics (the plugin recovers and refuses the batch)
)

// evil is a detector.Detector without the Match fast path, so every batch
// goes through Detect.
type evil struct{ m *detector.Matcher }

func (e evil) Info() detector.Rule { return e.m.Info() }

func (e evil) Detect(ctx context.Context, batch []detector.Event, out []detector.Detection) ([]detector.Detection, error) {
	for i := range batch {
		exe := batch[i].Executable
		switch {
		case strings.Contains(exe, markExit):
			os.Exit(3)
		case strings.Contains(exe, markPanic):
			done := make(chan struct{})
			go func() { panic("evilplugin: poisoned event " + exe) }()
			<-done
		case strings.Contains(exe, markHang):
			select {}
		case strings.Contains(exe, markThrow):
			panic("evilplugin: detector bug on " + exe)
		case strings.Contains(exe, markSlow):
			time.Sleep(200 * time.Millisecond)
		}
	}
	out, err := e.m.Detect(ctx, batch, out)
	for i := range batch {
		if strings.Contains(batch[i].Executable, markHuge) {
			for k := range out {
				out[k].SharePath = strings.Repeat("x", plugin.MaxMessageSize)
			}
		}
	}
	return out, err
}

func main() {
	plugin.Serve(evil{detector.MustNew(detector.DefaultConfig())},
		plugin.WithReconfigure(func(cfg detector.Config) (detector.Detector, error) {
			m, err := detector.New(cfg)
			if err != nil {
				return nil, err
			}
			return evil{m}, nil
		}))
}
