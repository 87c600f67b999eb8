//go:build unix

package jsonl_test

import "syscall"

// cpuSeconds is the process's user plus system CPU time. Benchmarks report
// events per CPU second besides wall-clock rates because the machines this
// runs on are shared and wall time swings with their load.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
