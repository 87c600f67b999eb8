package backoff

import (
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	s := time.Second
	tests := []struct {
		name   string
		policy Policy
		ran    []time.Duration // how long each failed attempt ran
		want   []time.Duration
	}{
		{"doubles up to the cap", Policy{Min: s, Max: 5 * s, Healthy: time.Hour},
			[]time.Duration{0, 0, 0, 0, 0}, []time.Duration{s, 2 * s, 4 * s, 5 * s, 5 * s}},
		{"a healthy run starts over", Policy{Min: s, Max: time.Minute, Healthy: 10 * s},
			[]time.Duration{0, 0, 0, 10 * s, 0, 9 * s}, []time.Duration{s, 2 * s, 4 * s, s, 2 * s, 4 * s}},
		{"zero policy uses the defaults", Policy{},
			[]time.Duration{0, 0, DefaultHealthy}, []time.Duration{DefaultMin, 2 * DefaultMin, DefaultMin}},
		{"max below min is min", Policy{Min: 3 * s, Max: s},
			[]time.Duration{0, 0}, []time.Duration{3 * s, 3 * s}},
		{"no overflow", Policy{Min: time.Duration(1) << 61, Max: time.Duration(1<<63 - 1)},
			[]time.Duration{0, 0, 0}, []time.Duration{1 << 61, 1 << 62, 1<<63 - 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(tt.policy)
			for i, ran := range tt.ran {
				if got := b.Next(ran); got != tt.want[i] {
					t.Fatalf("delay %d = %v, want %v", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestReset(t *testing.T) {
	b := New(Policy{Min: time.Second, Max: time.Minute, Healthy: time.Hour})
	b.Next(0)
	b.Next(0)
	b.Reset()
	if got := b.Next(0); got != time.Second {
		t.Fatalf("after Reset: %v", got)
	}
}
