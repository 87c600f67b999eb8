//go:build linux

package config

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
)

// TestConfigSwapRace: review H3. While a symbolic link flips between a
// root-owned configuration and one owned by another user, Load reads the
// root-owned file or refuses, and never reads the other's: the checks and
// the read use one descriptor. (Checked by stat and then opened again by
// path, the other's file was read within a few hundred loads.)
func TestConfigSwapRace(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		testdir.SkipOutsideCI(t, "needs root to give a file away")
	}
	dir := t.TempDir()
	good := writeFile(t, "good.yaml", "log: {level: debug}\n")
	bad := writeFile(t, "bad.yaml", "log: {level: error}\n")
	if err := os.Chown(bad, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "config.yaml")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		next := filepath.Join(dir, "next.yaml")
		for i := 0; !stop.Load(); i++ {
			target := good
			if i%2 == 1 {
				target = bad
			}
			os.Remove(next)
			if os.Symlink(target, next) == nil {
				os.Rename(next, link) // atomic: the link always exists
			}
		}
	}()
	defer func() { stop.Store(true); wg.Wait() }()
	read, refused := 0, 0
	// Enough loads that both outcomes happen many times over.
	for i := 0; i < 5000 && (read < 200 || refused < 200); i++ {
		cfg, err := load(t, Options{File: link})
		if err != nil {
			refused++
			continue
		}
		read++
		if cfg.Log.Level != "debug" {
			t.Fatalf("load %d read the file owned by uid 65534 (log.level %q)", i, cfg.Log.Level)
		}
	}
	t.Logf("%d loads read the root-owned file, %d refused", read, refused)
	if read == 0 || refused == 0 {
		t.Fatalf("the swap never interleaved with a load (%d read, %d refused)", read, refused)
	}
}
