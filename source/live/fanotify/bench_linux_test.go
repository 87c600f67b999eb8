//go:build linux

package fanotify

import (
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkProcInfo compares the per-event process lookups: one
// PIDFD_GET_INFO ioctl plus the cwd link against /proc/PID/stat, a statx
// of /proc/PID and the cwd link. Report CPU, not wall time, on a shared
// machine: -benchtime with `perf stat` or the cpu-ns/op metric below.
func BenchmarkProcInfo(b *testing.B) {
	p, err := openProcReader()
	if err != nil {
		b.Fatal(err)
	}
	defer p.close()
	c := exec.Command("sleep", "60")
	if err := c.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { c.Process.Kill(); c.Wait() }()
	pidfd, err := unix.PidfdOpen(c.Process.Pid, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(pidfd)
	for _, bb := range []struct {
		name  string
		pidfd int
	}{{"pidfd", pidfd}, {"proc", -1}} {
		b.Run(bb.name, func(b *testing.B) {
			var out procInfo
			c0 := cpuNanos()
			for b.Loop() {
				p.info(c.Process.Pid, bb.pidfd, bb.pidfd >= 0, &out)
			}
			b.ReportMetric(float64(cpuNanos()-c0)/float64(b.N), "cpu-ns/op")
			if !out.HasPPID {
				b.Fatal("no parent read")
			}
		})
	}
}

func BenchmarkParseRecords(b *testing.B) {
	var buf []byte
	for i := 0; i < 64; i++ {
		buf = append(buf, meta(maskOpenExec, int32(10+i), int32(1000+i), pidfdInfo(int32(100+i)))...)
	}
	recs := make([]record, 0, 64)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		var err error
		if recs, err = parseRecords(buf, recs[:0]); err != nil || len(recs) != 64 {
			b.Fatal(err)
		}
	}
}

func cpuNanos() int64 {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
