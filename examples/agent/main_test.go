package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
)

func TestAgentScansTestdata(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "tsclientwatch-plugin")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/tsclientwatch-plugin").CombinedOutput(); err != nil {
		t.Fatalf("go build plugin: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	var out bytes.Buffer
	log := slog.New(slog.DiscardHandler)
	n, err := run(context.Background(), &out, log, bin, hex.EncodeToString(h[:]), false, []string{testdir.Testdata(t)})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if n == 0 || len(lines) != n {
		t.Fatalf("%d detections reported, %d lines printed", n, len(lines))
	}
	for _, l := range lines {
		var r record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if r.RuleID != detector.RuleID || r.Path == "" || r.Form == "" {
			t.Fatalf("incomplete detection %q", l)
		}
	}
	if _, err := run(context.Background(), &out, log, bin, strings.Repeat("0", 64), false, []string{testdir.Testdata(t)}); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("wrong checksum: %v", err)
	}
}
