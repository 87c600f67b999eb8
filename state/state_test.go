package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
)

func mustOpen(t *testing.T, dir string) (*DB, *Snapshot) {
	t.Helper()
	db, snap, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, snap
}

func row(eid uint64, pid int64) Row {
	var r Row
	r.EID = eid
	r.Ident[0], r.Ident[1] = byte(eid), byte(eid>>8)
	r.Added = time.Unix(1_700_000_000, int64(eid))
	r.Time = time.Unix(1_700_000_000+int64(eid), 7).UTC()
	r.Type = detector.TypeStart
	r.PID = pid
	r.Executable = `\\tsclient\c\a.exe`
	r.Source = "sysmon"
	r.Form = detector.FormUNC
	return r
}

func TestCommitAndLoad(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	db, snap := mustOpen(t, dir)
	if len(snap.Rows) != 0 || snap.NextEID != 1 || snap.Created.IsZero() {
		t.Fatalf("fresh snapshot = %+v", snap)
	}
	fi, err := os.Stat(dir)
	if err != nil || runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700 {
		t.Fatalf("state directory: %v, mode %v; want 0700", err, fi.Mode())
	}
	if fi, err := os.Stat(db.Path()); err != nil || runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("database file: %v, mode %v; want 0600", err, fi.Mode())
	}
	p := row(0, 9)
	p.ID = 4
	b := &Batch{
		Rows:    []Row{row(1, 10), row(2, 11), row(3, 12)},
		Pending: []Row{p},
		Cursors: map[string][]byte{"file:/a": []byte("x"), "file:/b": []byte("y")},
		NextEID: 4,
	}
	if err := db.Commit(b); err != nil {
		t.Fatal(err)
	}
	rel := row(4, 9)
	rel.ID = 4
	if err := db.Commit(&Batch{Delete: []uint64{2}, Read: []uint64{3}, Buried: [][16]byte{row(2, 0).Ident},
		Release: []Row{rel}, Cursors: map[string][]byte{"file:/b": nil}, NextEID: 5, KeepTombstones: 10}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	_, snap = mustOpen(t, dir)
	var eids []uint64
	for _, r := range snap.Rows {
		eids = append(eids, r.EID)
	}
	if len(eids) != 3 || eids[0] != 1 || eids[1] != 3 || eids[2] != 4 || !snap.Rows[1].Read || snap.Rows[0].Read {
		t.Errorf("rows %v (read %v)", eids, snap.Rows)
	}
	if want := row(1, 10); snap.Rows[0].Detection != want.Detection || !snap.Rows[0].Added.Equal(want.Added) || snap.Rows[0].Ident != want.Ident {
		t.Errorf("row 1 came back as %+v, want %+v", snap.Rows[0], want)
	}
	if len(snap.Pending) != 0 || snap.NextEID != 5 || len(snap.Tombstones) != 1 || snap.Tombstones[0] != row(2, 0).Ident {
		t.Errorf("pending %v, next eid %d, tombstones %v", snap.Pending, snap.NextEID, snap.Tombstones)
	}
	if len(snap.Cursors) != 1 || string(snap.Cursors["file:/a"]) != "x" {
		t.Errorf("cursors %v", snap.Cursors)
	}
}

// TestDamagedDatabase: whatever is found in place of the database, Open
// moves it aside, says so, and starts afresh; it never fails or panics
// over the file's content.
func TestDamagedDatabase(t *testing.T) {
	t.Parallel()
	good := func(t *testing.T, dir string) {
		db, _ := mustOpen(t, dir)
		var rows []Row
		for i := uint64(1); i <= 2000; i++ {
			rows = append(rows, row(i, int64(i)))
		}
		if err := db.Commit(&Batch{Rows: rows, NextEID: 2001}); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"garbage", func(t *testing.T, path string) {
			os.WriteFile(path, []byte(strings.Repeat("not a database ", 500)), 0o600)
		}},
		{"torn: cut in the middle", func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			os.Truncate(path, fi.Size()/2)
		}},
		{"pages overwritten", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			junk := []byte(strings.Repeat("\xde\xad\xbe\xef", 1024))
			for off := int64(4096); off < 200_000; off += 8192 {
				f.WriteAt(junk, off)
			}
			f.Close()
		}},
		{"header zeroed", func(t *testing.T, path string) {
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			f.WriteAt(make([]byte, 100), 0)
			f.Close()
		}},
		{"another program's database", func(t *testing.T, path string) {
			os.Remove(path)
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec("CREATE TABLE other (x)"); err != nil {
				t.Fatal(err)
			}
			db.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			good(t, dir)
			path := filepath.Join(dir, FileName)
			tt.damage(t, path)
			db, snap, err := Open(context.Background(), dir)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer db.Close()
			rec := db.Recovered()
			if rec == nil || !strings.Contains(rec.Error(), "moved to "+path+".corrupt-") {
				// A tear the database can live with is fine too: then the
				// rows must be those written.
				if len(snap.Rows) != 2000 {
					t.Fatalf("Recovered() = %v with %d rows", rec, len(snap.Rows))
				}
				return
			}
			if len(snap.Rows) != 0 || snap.NextEID != 1 {
				t.Errorf("after recovery: %d rows, next eid %d; want a fresh database", len(snap.Rows), snap.NextEID)
			}
			moved, _ := filepath.Glob(path + ".corrupt-*")
			if len(moved) == 0 {
				t.Errorf("nothing moved aside")
			}
			// The fresh database works.
			if err := db.Commit(&Batch{Rows: []Row{row(1, 1)}, NextEID: 2}); err != nil {
				t.Errorf("commit to the fresh database: %v", err)
			}
		})
	}
}

func TestCorruptCopiesAreBounded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	for i := 0; i < keepCorrupt+3; i++ {
		os.WriteFile(path, []byte("garbage"), 0o600)
		db, _, err := Open(context.Background(), dir)
		if err != nil || db.Recovered() == nil {
			t.Fatalf("round %d: %v, recovered %v", i, err, db.Recovered())
		}
		db.Close()
		time.Sleep(2 * time.Millisecond) // distinct time suffixes
	}
	moved, _ := filepath.Glob(path + ".corrupt-*")
	if len(moved) != keepCorrupt {
		t.Errorf("%d copies kept, want %d: %v", len(moved), keepCorrupt, moved)
	}
}

func TestOneProcessAtATime(t *testing.T) {
	dir := t.TempDir()
	mustOpen(t, dir)
	old := LockWait
	LockWait = 300 * time.Millisecond
	defer func() { LockWait = old }()
	_, _, err := Open(context.Background(), dir)
	if err == nil || !strings.Contains(err.Error(), "in use by another tsclientwatch process (pid "+strconv.Itoa(os.Getpid())+")") {
		t.Errorf("second Open: %v", err)
	}
}

func TestUnsafeDirectory(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows directories are checked by ACL: TestCheckDirSDDL")
	}
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o770); err != nil {
		t.Fatal(err)
	}
	_, _, err := Open(context.Background(), dir)
	if !errors.Is(err, ErrUnsafeDir) || !strings.Contains(err.Error(), "writable by group or others (mode 0770)") {
		t.Errorf("group-writable directory: %v", err)
	}
	if os.Geteuid() != 0 {
		return
	}
	os.Chmod(dir, 0o700)
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, _, err = Open(context.Background(), dir)
	if !errors.Is(err, ErrUnsafeDir) || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Errorf("directory owned by another user: %v", err)
	}
}

// TestReadOnlyDirectory: a state directory that cannot be written is an
// error from Open (the extension then keeps rows in memory), not a crash
// and not a silent loss. As root, permissions do not stop writes, so the
// directory is a read-only tmpfs mount (CI runs it).
func TestReadOnlyDirectory(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs Unix permissions or mounts")
	}
	dir := filepath.Join(t.TempDir(), "state")
	if os.Geteuid() == 0 {
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tsclientwatch-test", dir).CombinedOutput(); err != nil {
			t.Fatalf("mount: %v: %s", err, out)
		}
		t.Cleanup(func() { unmount(t, dir) })
		db, _ := mustOpen(t, dir) // a database from a writable time
		db.Commit(&Batch{Rows: []Row{row(1, 1)}, NextEID: 2})
		db.Close()
		if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
			t.Fatalf("remount ro: %v: %s", err, out)
		}
	} else {
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		os.Chmod(dir, 0o500)
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
	}
	db, _, err := Open(context.Background(), dir)
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded in a read-only directory")
	}
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("error does not name the directory: %v", err)
	}
	if moved, _ := filepath.Glob(filepath.Join(dir, FileName+".corrupt-*")); len(moved) != 0 {
		t.Errorf("a read-only database was treated as damaged: %v", moved)
	}
}

// TestDiskFull: a commit that does not fit is an error that changes
// nothing; once there is room again, the same batch commits. CI runs it on
// a 1 MiB tmpfs.
func TestDiskFull(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs a Linux tmpfs")
	}
	if os.Geteuid() != 0 {
		testdir.SkipOutsideCI(t, "a small tmpfs mount needs root")
	}
	dir := filepath.Join(t.TempDir(), "state")
	os.Mkdir(dir, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tsclientwatch-test", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v: %s", err, out)
	}
	t.Cleanup(func() { unmount(t, dir) })
	db, _ := mustOpen(t, dir)
	// Something else fills the disk: a file of 512 KiB.
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 512<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	big := func(eid uint64) Row {
		r := row(eid, int64(eid))
		r.CommandLine = strings.Repeat("x", 8<<10)
		return r
	}
	batch := func(from uint64) *Batch {
		var rows []Row
		for i := from; i < from+10; i++ {
			rows = append(rows, big(i))
		}
		return &Batch{Rows: rows, NextEID: from + 10}
	}
	var err error
	eid := uint64(1)
	for ; eid < 1000; eid += 10 {
		if err = db.Commit(batch(eid)); err != nil {
			break
		}
	}
	if !IsDiskFull(err) {
		t.Fatalf("after %d rows: %v, want a full disk", eid, err)
	}
	// Room again: the batch that failed commits, and nothing was lost.
	os.Remove(filler)
	if err := db.Commit(batch(eid)); err != nil {
		t.Fatalf("retry after making room: %v", err)
	}
	db.Close()
	_, snap := mustOpen(t, dir)
	if got := uint64(len(snap.Rows)); got != eid+9 {
		t.Errorf("%d rows after reopening, want %d", got, eid+9)
	}
}

// TestNewerSchema: a file written by a later version, with a column this
// one does not know, is read, and rows written now get that column's
// default.
func TestNewerSchema(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, _ := mustOpen(t, dir)
	db.Commit(&Batch{Rows: []Row{row(1, 1)}, NextEID: 2})
	if _, err := db.db.Exec("ALTER TABLE detections ADD COLUMN future_field TEXT NOT NULL DEFAULT ''"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, snap := mustOpen(t, dir)
	if db.Recovered() != nil || len(snap.Rows) != 1 {
		t.Fatalf("newer schema: recovered %v, %d rows", db.Recovered(), len(snap.Rows))
	}
	if err := db.Commit(&Batch{Rows: []Row{row(2, 2)}, NextEID: 3}); err != nil {
		t.Fatalf("commit into a newer schema: %v", err)
	}
}

// TestEveryFieldRoundTrips fills every field of a detection with a value
// that is not its zero value (strings with bytes that are not UTF-8) and
// checks that it comes back from the database the same. A field of a new
// type makes the mapping fail to build; a field that is not stored fails
// here.
func TestEveryFieldRoundTrips(t *testing.T) {
	t.Parallel()
	var d detector.Detection
	v := reflect.ValueOf(&d).Elem()
	n := 0
	var set func(v reflect.Value)
	set = func(v reflect.Value) {
		for i := range v.NumField() {
			f, sf := v.Field(i), v.Type().Field(i)
			if !sf.IsExported() {
				continue
			}
			n++
			switch {
			case sf.Anonymous:
				set(f)
			case f.Type() == reflect.TypeFor[time.Time]():
				f.Set(reflect.ValueOf(time.Date(1601, 1, 1, 0, 0, 0, n, time.UTC)))
			case f.Type() == reflect.TypeFor[detector.SessionID]():
				f.Set(reflect.ValueOf(detector.SessionOf(0))) // session 0 is known, not unknown
			case f.Kind() == reflect.String:
				f.SetString(fmt.Sprintf("%s \xff\xfe %d", sf.Name, n))
			case f.Kind() == reflect.Bool:
				f.SetBool(true)
			case f.CanInt():
				f.SetInt(-int64(n))
			case f.CanUint():
				f.SetUint(uint64(1)<<(f.Type().Bits()-1) | uint64(n))
			default:
				t.Fatalf("field %s: no test value for %s", sf.Name, f.Type())
			}
		}
	}
	set(v)
	dir := t.TempDir()
	db, _ := mustOpen(t, dir)
	r := Row{EID: 1, Added: time.Unix(5, 6), Detection: d}
	p := Row{ID: 9, Added: time.Unix(7, 8), Detection: d}
	p.Ident[0] = 1
	if err := db.Commit(&Batch{Rows: []Row{r}, Pending: []Row{p}, NextEID: 2}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, snap := mustOpen(t, dir)
	if len(snap.Rows) != 1 || len(snap.Pending) != 1 {
		t.Fatalf("%d rows, %d pending", len(snap.Rows), len(snap.Pending))
	}
	for _, got := range []detector.Detection{snap.Rows[0].Detection, snap.Pending[0].Detection} {
		if !reflect.DeepEqual(got, d) {
			t.Errorf("came back as\n%+v\nwant\n%+v", got, d)
		}
	}
}

// TestColumnNames pins the derived names of a few fields: they are the
// file's schema, which a rename would change.
func TestColumnNames(t *testing.T) {
	want := map[string]bool{"time_s": true, "parent_pid": true, "sha256": true, "fs_type": true,
		"host_os": true, "record_id": true, "command_line": true, "rule_id": true, "client_drive": true}
	for _, f := range fields {
		for _, c := range f.cols {
			delete(want, c)
		}
	}
	if len(want) != 0 {
		t.Errorf("columns missing: %v", want)
	}
	for in, out := range map[string]string{"ParentPID": "parent_pid", "SHA256": "sha256", "FSType": "fs_type",
		"LinkedLogonID": "linked_logon_id", "HostOS": "host_os", "PathTruncated": "path_truncated"} {
		if got := snake(in); got != out {
			t.Errorf("snake(%s) = %s, want %s", in, got, out)
		}
	}
}
