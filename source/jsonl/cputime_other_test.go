//go:build !unix

package jsonl_test

// cpuSeconds is not measured here; benchmarks then omit the metric.
func cpuSeconds() float64 { return 0 }
