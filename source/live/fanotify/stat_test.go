package fanotify

import "testing"

func TestParseStatPPID(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"4242 (tool) R 4200 4242 4200 0 -1", 4200, true},
		{"4242 (a b) c) (d) S 1 1 1", 1, true},
		{"4242 (tool R", 0, false},
		{"4242 (tool) R", 0, false},
		{"4242 (tool) R x", 0, false},
	} {
		got, ok := parseStatPPID([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseStatPPID(%q) = %d, %v", tt.in, got, ok)
		}
	}
}
