package plugin

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// benchEvents builds n realistic process starts (Sysmon-sized strings), one
// in a hundred from a tsclient share.
func benchEvents(n int) []detector.Event {
	evs := make([]detector.Event, n)
	for i := range evs {
		exe := `C:\Windows\System32\svchost` + strconv.Itoa(i%50) + `.exe`
		if i%100 == 0 {
			exe = `\\tsclient\c\temp\stack\a` + strconv.Itoa(i) + `.exe`
		}
		evs[i] = detector.Event{
			Time: t0, Type: detector.TypeStart, PID: int64(1000 + i), ParentPID: 700,
			Executable:       exe,
			CommandLine:      exe + ` -k netsvcs -p -s Schedule`,
			WorkingDirectory: `C:\Windows\system32\`,
			ParentExecutable: `C:\Windows\System32\services.exe`,
			User:             `NT AUTHORITY\SYSTEM`, Host: "WIN-HOST-01.corp.example", HostOS: "windows",
			Source: "windows.sysmon_operational", SHA256: "9520a99e77d6196d0d09833146424113",
		}
	}
	return evs
}

// BenchmarkDetect compares events/s through the plugin (one caller, and
// several callers sharing the stream) with the in-process matcher.
func BenchmarkDetect(b *testing.B) {
	ctx := context.Background()
	run := func(b *testing.B, d detector.Detector, batch int, callers int) {
		evs := benchEvents(batch)
		b.SetParallelism(callers) // callers × GOMAXPROCS goroutines
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			var out []detector.Detection
			for pb.Next() {
				var err error
				if out, err = d.Detect(ctx, evs, out[:0]); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(0, "ns/op")
	}
	m := detector.MustNew(detector.DefaultConfig())
	b.Run("inprocess/batch=1024", func(b *testing.B) { run(b, m, 1024, 1) })
	c := launch(b, detector.DefaultConfig())
	for _, batch := range []int{256, 1024, 4096} {
		for _, callers := range []int{1, 4} {
			b.Run(fmt.Sprintf("plugin/batch=%d/callers=%d", batch, callers), func(b *testing.B) { run(b, c, batch, callers) })
		}
	}
}
