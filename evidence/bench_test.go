//go:build linux

package evidence

import (
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkHash64MiB compares the collector's read of a 64 MiB file
// (open through the no-symlink path, fstat before and after, one pass
// into SHA-256, with and without the copy) against the baseline: io.Copy
// of the same file into SHA-256. The file sits in the page cache after the
// first pass, so the figures compare the work done per byte, not a disk.
//
//	go test -run '^$' -bench Hash64MiB -benchmem ./evidence/
func BenchmarkHash64MiB(b *testing.B) {
	p := filepath.Join(b.TempDir(), "big.exe")
	data := random(b, 64<<20)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		b.Fatal(err)
	}
	want := sum(data)
	b.Run("io.Copy", func(b *testing.B) {
		b.SetBytes(64 << 20)
		b.ReportAllocs()
		for b.Loop() {
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			h := sha256.New()
			if _, err := io.Copy(h, f); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	for _, mode := range []struct {
		name string
		dir  bool
	}{{"collector", false}, {"collector+copy", true}} {
		b.Run(mode.name, func(b *testing.B) {
			cfg := DefaultConfig()
			if mode.dir {
				cfg.Dir = filepath.Join(b.TempDir(), "evidence")
			}
			c, err := New(cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { c.Close() }()
			b.SetBytes(64 << 20)
			b.ReportAllocs()
			for b.Loop() {
				ch := make(chan Result, 1)
				c.Submit(Request{Path: p}, func(r Result) { ch <- r })
				if r := <-ch; r.SHA256 != want {
					b.Fatalf("%+v", r)
				}
				if mode.dir {
					// Each pass writes the copy anew, as a first sighting.
					b.StopTimer()
					os.RemoveAll(cfg.Dir)
					c.Close()
					if c, err = New(cfg, nil); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			}
		})
	}
}
