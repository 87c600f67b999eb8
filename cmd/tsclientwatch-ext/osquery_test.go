//go:build !windows

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/extension"
	"github.com/tsclientwatch/tsclientwatch/internal/osquerytest"
	"github.com/tsclientwatch/tsclientwatch/internal/version"
	"github.com/tsclientwatch/tsclientwatch/tables"
)

// patience bounds every wait here; it only turns a hang into a failure.
const patience = 60 * time.Second

// syncBuffer is the extension's stderr, read while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startInProcess runs the extension's main in this process against a fake osqueryd with
// osqueryd's own command line plus extra; it stops when the test ends and
// must then exit 0 (a signal).
func startInProcess(t *testing.T, extra ...string) (*osquerytest.Osqueryd, *syncBuffer) {
	t.Helper()
	o := osquerytest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan int, 1)
	args := append([]string{"--verbose", "--socket", o.Socket, "--timeout", "10", "--interval", "1",
		"--state-dir", filepath.Join(t.TempDir(), "state")}, extra...)
	go func() { done <- run(ctx, args, io.Discard, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("extension exited %d after SIGTERM, want 0:\n%s", code, logs)
			}
		case <-time.After(patience):
			t.Errorf("extension did not stop:\n%s", logs)
		}
	})
	return o, logs
}

// waitRow polls table until a row satisfies ok, as an operator would re-run
// a query; it fails with the last rows seen.
func waitRow(t *testing.T, o *osquerytest.Osqueryd, table string, ok func(map[string]string) bool, logs *syncBuffer) map[string]string {
	t.Helper()
	deadline := time.Now().Add(patience)
	var last []map[string]string
	for {
		rows, err := o.Generate(table)
		if err != nil {
			t.Fatalf("generate %s: %v\n%s", table, err, logs)
		}
		for _, r := range rows {
			if ok(r) {
				return r
			}
		}
		last = rows
		if time.Now().After(deadline) {
			t.Fatalf("no matching row in %s after %v; rows: %v\nlogs:\n%s", table, patience, last, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRegistersBuildVersion: through the Thrift socket, the extension
// registers under its name with the build's version (what
// osquery_extensions.version shows), and a configuration that says
// "sources: []" runs nothing and says so in tsclientwatch_status.
func TestRegistersBuildVersion(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte("sources: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, logs := startInProcess(t, "--config", cfg)
	info, reg := o.WaitRegistered(patience)
	if info.Name != extension.Name || info.Version != version.Get().Version {
		t.Errorf("registered as %q version %q, want %q version %q", info.Name, info.Version, extension.Name, version.Get().Version)
	}
	for _, tbl := range []string{tables.ExecutionsName, tables.StatusName} {
		if _, ok := reg["table"][tbl]; !ok {
			t.Errorf("table %s not registered: %v", tbl, reg)
		}
	}
	rows, err := o.Generate(tables.StatusName)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0]["type"] != "none" || !strings.Contains(rows[0]["last_error"], "sources: [] in "+cfg) || rows[1]["type"] != "store" {
		t.Errorf("status with sources: [] = %v\n%s", rows, logs)
	}
	if !strings.Contains(logs.String(), "version="+version.Get().Version) {
		t.Errorf("start-up log lacks the version:\n%s", logs)
	}
}
