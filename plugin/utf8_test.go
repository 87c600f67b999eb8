package plugin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// TestInvalidUTF8Batch is review E5 with the real plugin binary: one good
// tsclient event and one whose path holds a byte that is not UTF-8 (a file
// name any user on a client drive can make). Before, gRPC could not marshal
// the batch, the plugin was relaunched three times and the batch, with the
// good detection, was dropped. Now both are detected, and the second keeps
// its exact bytes in the event and in its share path.
func TestInvalidUTF8Batch(t *testing.T) {
	t.Parallel()
	c, err := Launch(context.Background(), Options{Path: pluginPath, SHA256: pluginSum, Config: detector.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	good := events()[3] // \\tsclient\c\temp\stack\a.exe
	bad := good
	bad.PID = 666
	bad.Executable = "\\\\tsclient\\c\\evil\xff\xfe\\a\xff.exe"
	bad.CommandLine = "\"" + bad.Executable + "\" /x \xc3"
	bad.User = "CORP\\b\xffb"
	// A valid character from the escape range next to a bad byte must come
	// back as it was too.
	xrdp := good
	xrdp.PID = 667
	xrdp.Executable = "/home/bob/thinclient_drives/C:/\uf7ff\xff/run"
	xrdp.FSType = "fuse.xrdp-chansrv"
	xrdp.HostOS = "linux"
	batch := []detector.Event{good, bad, xrdp}
	want, _ := detector.MustNew(detector.DefaultConfig()).Detect(context.Background(), batch, nil)
	if len(want) != 3 {
		t.Fatalf("in process: %d detections, want 3", len(want))
	}
	got, err := c.Detect(context.Background(), batch, nil)
	if err != nil {
		t.Fatalf("Detect: %v", err)
	}
	sameDetections(t, got, want)
	if got[1].Executable != bad.Executable || got[1].SharePath != "\\evil\xff\xfe\\a\xff.exe" || got[1].User != bad.User {
		t.Errorf("bytes changed: %q %q %q", got[1].Executable, got[1].SharePath, got[1].User)
	}
	if got[2].SharePath != "/\uf7ff\xff/run" {
		t.Errorf("xrdp share path %q", got[2].SharePath)
	}
	if c.Restarts() != 0 {
		t.Errorf("%d relaunches", c.Restarts())
	}
}

func FuzzWireString(f *testing.F) {
	for _, s := range []string{"", "plain", "\xff", "a\xffb\xfe", "\uf780\uf7ff", "\xef\x9e\x80", "\uf7ff\xff", "日本\xe6\x97"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, esc := toWire(s)
		if !utf8.ValidString(w) {
			t.Fatalf("toWire(%q) = %q: not UTF-8", s, w)
		}
		if esc == utf8.ValidString(s) {
			t.Fatalf("toWire(%q) escaped = %v", s, esc)
		}
		if !esc && w != s {
			t.Fatalf("valid %q sent as %q", s, w)
		}
		if back := fromWire(w, esc); back != s {
			t.Fatalf("round trip %q -> %q -> %q", s, w, back)
		}
	})
}

// TestOneBadEventCostsOnlyItself: events the plugin refuses, dies on, or
// that are too large to send go without a verdict alone; every other event
// of the batch is judged, and Detect says which events were not.
func TestOneBadEventCostsOnlyItself(t *testing.T) {
	c := launchEvil(t, Options{})
	m := detector.MustNew(detector.DefaultConfig())
	for _, tc := range []struct {
		name     string
		poison   map[int]string // index -> executable
		huge     int            // index of an event too large to send, or -1
		abandon  bool           // the error wraps ErrBatchAbandoned
		contains string
	}{
		{"refused", map[int]string{5: `C:\EVIL-THROW.exe`}, -1, false, "detector panicked"},
		{"fatal", map[int]string{9: `\\tsclient\c\EVIL-EXIT.exe`}, -1, true, "died or hung each of the 3 times"},
		{"two refused", map[int]string{0: `C:\EVIL-THROW.exe`, 17: `C:\EVIL-THROW.exe`}, -1, false, "detector panicked"},
		{"too large", nil, 3, false, "over the 8388608-byte message limit, and was not sent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := goodBatch(7)
			var bad []int
			for i, exe := range tc.poison {
				b[i].Executable = exe
			}
			if tc.huge >= 0 {
				b[tc.huge].CommandLine = strings.Repeat("x", MaxMessageSize/2)
			}
			for i := range b {
				if _, ok := tc.poison[i]; ok || i == tc.huge {
					bad = append(bad, i)
				}
			}
			var judged []detector.Event
			for i := range b {
				if _, ok := tc.poison[i]; !ok && i != tc.huge {
					judged = append(judged, b[i])
				}
			}
			want, _ := m.Detect(context.Background(), judged, nil)
			got, err := c.Detect(context.Background(), b, nil)
			var pe *detector.PartialError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *detector.PartialError", err)
			}
			if !equalInts(pe.Unjudged, bad) || !strings.Contains(err.Error(), tc.contains) || errors.Is(err, ErrBatchAbandoned) != tc.abandon {
				t.Fatalf("err = %v (unjudged %v), want events %v without a verdict, saying %q", err, pe.Unjudged, bad, tc.contains)
			}
			sameDetections(t, got, want)
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
