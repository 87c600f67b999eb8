package fanotify

import (
	"testing"
	"time"
)

func TestDirCache(t *testing.T) {
	var c dirCache
	t0 := time.Unix(1000, 0)
	fsA, fsB := [8]byte{1}, [8]byte{2}
	h := []byte{1, 0, 0, 0, 0xaa, 0xbb}
	if _, ok := c.get(fsA, h, t0); ok {
		t.Fatal("hit in an empty cache")
	}
	c.put(fsA, h, "/m/C:/tools", t0)
	for _, tt := range []struct {
		name string
		fsid [8]byte
		h    []byte
		at   time.Time
		want string
	}{
		{"same", fsA, h, t0.Add(dirTTL - time.Nanosecond), "/m/C:/tools"},
		{"expired", fsA, h, t0.Add(dirTTL), ""},
		{"clock went back", fsA, h, t0.Add(-time.Second), ""},
		{"other filesystem", fsB, h, t0, ""},
		{"other handle", fsA, []byte{1, 0, 0, 0, 0xaa, 0xbc}, t0, ""},
		{"handle prefix", fsA, h[:5], t0, ""},
	} {
		got, ok := c.get(tt.fsid, tt.h, tt.at)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("%s: get = %q, %v; want %q", tt.name, got, ok, tt.want)
		}
	}
	c.reset()
	if _, ok := c.get(fsA, h, t0); ok {
		t.Error("hit after reset")
	}
	for i := 0; i < dirMax+1; i++ {
		c.put(fsA, []byte{byte(i), byte(i >> 8), byte(i >> 16)}, "/d", t0)
	}
	if len(c.m) > dirMax {
		t.Errorf("cache grew to %d entries, bound %d", len(c.m), dirMax)
	}
}
