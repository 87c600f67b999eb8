package detector

import (
	"context"
	"testing"
)

// benchEvents is a realistic mix: mostly benign Windows and Linux process
// starts, a few near misses, one positive in 64.
func benchEvents() []Event {
	paths := []string{
		`C:\Windows\System32\svchost.exe`,
		`C:\Program Files\Google\Chrome\Application\chrome.exe`,
		`\Device\HarddiskVolume3\Windows\System32\conhost.exe`,
		`\Device\Mup\VBoxSvr\share\tool.exe`,
		`\\fileserver\deploy\setup.exe`,
		`C:\Program Files\Techinline\TSClient.exe`,
		`/usr/bin/bash`,
		`/home/alice/.local/bin/thing`,
	}
	out := make([]Event, 0, 64)
	for i := 0; i < 63; i++ {
		p := paths[i%len(paths)]
		os := OSWindows
		if p[0] == '/' {
			os = OSLinux
		}
		out = append(out, Event{Type: TypeStart, HostOS: os, Executable: p})
	}
	return append(out, Event{Type: TypeStart, HostOS: OSWindows, Executable: `\\tsclient\c\temp\a.exe`})
}

func BenchmarkMatch(b *testing.B) {
	for _, strict := range []bool{false, true} {
		name := "default"
		if strict {
			name = "strict"
		}
		b.Run(name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Strict = strict
			m := MustNew(cfg)
			evs := benchEvents()
			b.ReportAllocs()
			hits := 0
			for i := 0; b.Loop(); i++ {
				if _, ok := m.Match(&evs[i&63]); ok {
					hits++
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func BenchmarkDetectBatch(b *testing.B) {
	m := MustNew(DefaultConfig())
	evs := benchEvents()
	out := make([]Detection, 0, len(evs))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		out, _ = m.Detect(ctx, evs, out[:0])
	}
	b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
}
