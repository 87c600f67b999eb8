package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/store"
)

// TestCollectorWithPlugin: the extension honours plugin.path and
// plugin.sha256 as the CLI does: the rule runs in the real plugin binary
// and fills the store with the same rows as in process; a wrong checksum
// is refused with an error that says so.
func TestCollectorWithPlugin(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "tsclientwatch-plugin")
	build := exec.Command("go", "build", "-o", bin, "./cmd/tsclientwatch-plugin")
	build.Dir = testdir.Root(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	rows := func(cfg config.Config) []string {
		t.Helper()
		st := store.New(store.Options{MaxEvents: 100})
		coll, release, err := newCollector(context.Background(), cfg, st, "", log)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go coll.Run(ctx)
		<-coll.Ready()
		var out []string
		st.Scan(context.Background(), store.Filter{}, func(r *store.Row) bool {
			out = append(out, strings.Join([]string{r.Executable, string(r.Form), r.ClientDrive, r.SharePath}, " "))
			return true
		})
		return out
	}

	cfg := config.Default()
	cfg.Sources = []config.SourceConfig{{Type: config.SourceFile, Path: testdir.Testdata(t, "evtx", "tsclient_positive.evtx")}}
	inProcess := rows(cfg)
	if len(inProcess) != 2 {
		t.Fatalf("in process: %q, want the sample's two detections", inProcess)
	}
	cfg.Plugin.Path, cfg.Plugin.SHA256 = bin, hex.EncodeToString(sum[:])
	if viaPlugin := rows(cfg); !slices.Equal(viaPlugin, inProcess) {
		t.Errorf("through the plugin %q, in process %q", viaPlugin, inProcess)
	}

	cfg.Plugin.SHA256 = strings.Repeat("0", 64)
	if _, _, err := newCollector(context.Background(), cfg, store.New(store.Options{}), "", log); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("wrong checksum: err = %v, want a checksum error", err)
	}
}
