//go:build linux

package evidence

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/privdir"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
)

func jsonDecoder(b []byte) *json.Decoder {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d
}

func copyConfig(dir string) Config {
	cfg := hashOnly()
	cfg.Dir = dir
	return cfg
}

// TestCopy: the directory is created 0700, the copy is 0600 named by its
// hash with the same bytes, and its sidecar is valid JSON with the
// detection's fields; a second sighting of the same content keeps the
// first copy and sidecar.
func TestCopy(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "var", "evidence")
	c := newCollector(t, copyConfig(dir))
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory: %v %v, want 0700", fi.Mode(), err)
	}
	src := t.TempDir()
	b := random(t, 5000)
	p1, p2 := filepath.Join(src, "a.exe"), filepath.Join(src, "b.exe")
	writeFile(t, p1, b)
	writeFile(t, p2, b)
	os.Chmod(p1, 0o755)
	det := detector.Detection{Event: detector.Event{Time: time.Date(2026, 12, 2, 22, 0, 0, 0, time.UTC), PID: 42, Executable: p1,
		User: "alice", Host: "rds1", Source: "ebpf", LogonTime: 7}, Form: detector.FormXrdp, ClientDrive: "C", SharePath: "/a.exe"}
	r := get(t, c, Request{PID: 0, Path: p1, Detection: det})
	if r.Outcome != Hashed || r.SHA256 != sum(b) || r.EvidencePath != filepath.Join(dir, sum(b)) || r.Err != nil {
		t.Fatalf("%+v", r)
	}
	kept, err := os.ReadFile(r.EvidencePath)
	if err != nil || !bytes.Equal(kept, b) {
		t.Fatalf("copy differs (%v)", err)
	}
	for _, f := range []string{r.EvidencePath, r.EvidencePath + ".json"} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want 0600", f, fi.Mode(), err)
		}
	}
	s := readSidecar(t, r.EvidencePath)
	if s.Size != 5000 || s.FileSize != 5000 || s.Changed || s.ReadFrom != p1 || s.Path != p1 || s.PID != 0 ||
		s.Detection.Path != p1 || s.Detection.PID != 42 || s.Detection.Username != "alice" || s.Detection.Form != "xrdp" ||
		s.Detection.Time != "2026-12-02T22:00:00Z" || s.Detection.LogonTime == nil || *s.Detection.LogonTime != 7 || s.Detection.SessionID != nil {
		t.Errorf("sidecar %+v", s)
	}
	if _, err := time.Parse(time.RFC3339Nano, s.ReadAt); err != nil {
		t.Errorf("read_at %q: %v", s.ReadAt, err)
	}

	r2 := get(t, c, Request{Path: p2})
	if r2.Outcome != Hashed || r2.EvidencePath != r.EvidencePath || r2.Err != nil {
		t.Fatalf("second sighting %+v", r2)
	}
	if s2 := readSidecar(t, r.EvidencePath); s2.Path != p1 {
		t.Errorf("sidecar rewritten by the second sighting: path %s", s2.Path)
	}
	if k := c.Counters(); k.Read != 2 || k.Kept != 1 || k.Evicted != 0 || k.Failed != 0 {
		t.Errorf("counters %+v", k)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("directory holds %d entries, want the copy and its sidecar", len(ents))
	}
}

// TestEvict: copies least recently seen are evicted first, with their
// sidecars; a copy larger than the bound is not kept, and that is no
// failure.
func TestEvict(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "evidence")
	cfg := copyConfig(dir)
	cfg.MaxDirBytes = 25 << 10 // two 10 KiB copies and their sidecars, not three
	c := newCollector(t, cfg)
	src := t.TempDir()
	files := map[string][]byte{}
	for _, n := range []string{"a", "b", "c"} {
		files[n] = random(t, 10<<10)
		writeFile(t, filepath.Join(src, n), files[n])
	}
	keep := func(n string) Result {
		r := get(t, c, Request{Path: filepath.Join(src, n)})
		if r.Outcome != Hashed || r.EvidencePath == "" {
			t.Fatalf("%s: %+v", n, r)
		}
		return r
	}
	keep("a")
	keep("b")
	keep("a") // seen again: b is now the least recently seen
	keep("c")
	for n, want := range map[string]bool{"a": true, "b": false, "c": true} {
		for _, f := range []string{sum(files[n]), sum(files[n]) + ".json"} {
			if _, err := os.Stat(filepath.Join(dir, f)); (err == nil) != want {
				t.Errorf("%s (%s): present %v, want %v", n, f, err == nil, want)
			}
		}
	}
	if k := c.Counters(); k.Kept != 3 || k.Evicted != 1 {
		t.Errorf("counters %+v, want 3 kept and 1 evicted", k)
	}
	big := filepath.Join(src, "big")
	writeFile(t, big, random(t, 30<<10))
	r := get(t, c, Request{Path: big})
	if r.Outcome != Hashed || r.EvidencePath != "" || !errors.Is(r.Err, errNotKept) || !strings.Contains(r.Err.Error(), "evidence.max_dir_bytes (25600)") {
		t.Fatalf("%+v", r)
	}
	if k := c.Counters(); k.Failed != 0 || k.Evicted != 1 {
		t.Errorf("a copy over the bound evicted or failed: %+v", k)
	}
}

// TestReopen: a new collector learns what the directory holds, removes
// what a crash left unfinished, and evicts down to a lower bound.
func TestReopen(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "evidence")
	c, err := New(copyConfig(dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	var kept []string
	for i, n := range []string{"old", "new"} {
		writeFile(t, filepath.Join(src, n), random(t, 10<<10))
		r := get(t, c, Request{Path: filepath.Join(src, n)})
		kept = append(kept, r.EvidencePath)
		when := time.Now().Add(time.Duration(i-2) * time.Hour)
		os.Chtimes(r.EvidencePath, when, when)
	}
	c.Close()
	writeFile(t, filepath.Join(dir, tempPrefix+"123"), []byte("torn"))
	orphan := filepath.Join(dir, strings.Repeat("ab", 32)+".json")
	writeFile(t, orphan, []byte("{}"))
	cfg := copyConfig(dir)
	cfg.MaxDirBytes = 15 << 10
	c2 := newCollector(t, cfg)
	for p, want := range map[string]bool{kept[0]: false, kept[0] + ".json": false, kept[1]: true,
		filepath.Join(dir, tempPrefix+"123"): false, orphan: false} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: present %v, want %v", p, err == nil, want)
		}
	}
	if c2.dir.total == 0 || c2.dir.total > 15<<10 || c2.dir.lru.Len() != 1 {
		t.Errorf("learned %d bytes in %d copies", c2.dir.total, c2.dir.lru.Len())
	}
}

// TestUnsafeDir: a directory others may write, or another user owns, is
// refused, not repaired.
func TestUnsafeDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "evidence")
	os.Mkdir(dir, 0o700)
	os.Chmod(dir, 0o777)
	_, err := New(copyConfig(dir), nil)
	var ue *privdir.UnsafeError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "unsafe evidence directory "+dir+": writable by group or others (mode 0777)") {
		t.Fatalf("world-writable: %v", err)
	}
	if os.Geteuid() != 0 {
		testdir.SkipOutsideCI(t, "refusing a directory owned by another user needs root to chown")
	}
	os.Chmod(dir, 0o700)
	os.Chown(dir, 65534, 65534)
	if _, err := New(copyConfig(dir), nil); !errors.As(err, &ue) || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("another user's: %v", err)
	}
}

// TestDiskFull: with no room for the copy the hash is still reported, the
// partial copy removed, and the failure counted.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		testdir.SkipOutsideCI(t, "a full disk is a small tmpfs, which needs root to mount")
	}
	dir := filepath.Join(t.TempDir(), "evidence")
	os.Mkdir(dir, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { unmountTmpfs(t, dir) })
	c := newCollector(t, copyConfig(dir))
	p := filepath.Join(t.TempDir(), "a.exe")
	b := random(t, 200<<10)
	writeFile(t, p, b)
	r := get(t, c, Request{Path: p})
	if r.Outcome != Hashed || r.SHA256 != sum(b) || r.EvidencePath != "" || r.Err == nil || !strings.Contains(r.Err.Error(), "no space left on device") {
		t.Fatalf("%+v", r)
	}
	if k := c.Counters(); k.Read != 1 || k.Failed != 1 || k.Kept != 0 || k.Released != 0 {
		t.Errorf("counters %+v, want read 1 and failed 1", k)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("the partial copy was left: %d entries", len(ents))
	}
	// A small file still fits.
	small := filepath.Join(t.TempDir(), "s.exe")
	writeFile(t, small, []byte("small"))
	if r := get(t, c, Request{Path: small}); r.EvidencePath == "" || r.Err != nil {
		t.Errorf("small file after a full disk: %+v", r)
	}
}

func unmountTmpfs(t *testing.T, dir string) {
	var out []byte
	var err error
	for range 10 {
		if out, err = exec.Command("umount", dir).CombinedOutput(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out2, err2 := exec.Command("umount", "-l", dir).CombinedOutput(); err2 != nil {
		t.Errorf("umount %s: %v: %s; umount -l: %v: %s", dir, err, out, err2, out2)
	}
}
