//go:build !unix

package eventxml

// cpuSeconds is not measured here: benchmarks then report no per-CPU rate.
func cpuSeconds() float64 { return 0 }
