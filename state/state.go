// Package state keeps tsclientwatch's durable state: the detections the
// store holds and where each source stopped reading, in one SQLite database
// (modernc.org/sqlite, the pure-Go SQLite the project already uses, in WAL
// mode with synchronous=FULL) in a private state directory.
//
// Why SQLite rather than a key-value file (bbolt): a transaction commits
// rows and source cursors together, so a crash between the two cannot lose
// or repeat a detection; a UNIQUE index keeps one row per detection
// identity; a damaged file is reported as an error (SQLITE_CORRUPT,
// SQLITE_NOTADB) rather than a crash, so it can be moved aside; a full disk
// is an error that rolls back; space freed by dropped rows is reused, so
// the file stays bounded by the store's bounds; and an operator can read
// the file with the sqlite3 shell. Columns, not an encoded blob, hold the
// fields, derived from detector.Detection (columns.go): a field added later
// gets its column, with its zero value as default, the first time a new
// build opens the file, and an older build reading a newer file ignores the
// columns it does not know. Strings are stored byte for byte (a Linux path
// need not be UTF-8).
//
// The store and the collector are the only users: readers never see the
// database.
package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// File names inside the state directory.
const (
	FileName = "state.db"   // the database (with -wal and -shm beside it)
	LockName = "state.lock" // held while a process uses the directory
)

// applicationID marks the file as tsclientwatch's ("TSCW").
const applicationID = 0x54534357

// keepCorrupt is how many moved-aside databases are kept for inspection.
const keepCorrupt = 3

// LockWait is how long Open waits for another process to release the
// directory: osqueryd may start a new extension while the old one exits.
var LockWait = 10 * time.Second

// Row is one stored detection as the database keeps it.
type Row struct {
	// EID is the event id; 0 for a row held back (Pending).
	EID uint64
	// ID identifies a held-back row until it is released; 0 otherwise.
	ID        int64
	Ident     [16]byte
	Added     time.Time
	Read      bool // a query returned it
	Truncated bool
	detector.Detection
}

// Snapshot is what Open found in the database.
type Snapshot struct {
	Rows       []Row             // visible rows, in eid order
	Pending    []Row             // rows held back until released, in the order added
	NextEID    uint64            // the eid the next row gets (at least 1)
	Tombstones [][16]byte        // identities of dropped rows, oldest first
	Cursors    map[string][]byte // source -> cursor
	Created    time.Time         // when the database was made
}

// Batch is one transaction's worth of changes.
type Batch struct {
	Rows    []Row      // new visible rows
	Pending []Row      // new held-back rows (ID set by the caller)
	Release []Row      // held-back rows (by ID) becoming visible with their EID and fields
	Delete  []uint64   // eids of dropped rows
	Read    []uint64   // eids a query returned
	Buried  [][16]byte // identities of dropped rows, oldest first
	// KeepTombstones bounds the tombstones kept (the oldest go); 0 keeps
	// them all.
	KeepTombstones int
	Cursors        map[string][]byte // source -> cursor; a nil value deletes it
	NextEID        uint64            // recorded when above the stored one
}

// Empty reports whether b changes nothing but, at most, the recorded next
// eid (which follows the rows anyway).
func (b *Batch) Empty() bool {
	return len(b.Rows) == 0 && len(b.Pending) == 0 && len(b.Release) == 0 && len(b.Delete) == 0 &&
		len(b.Read) == 0 && len(b.Buried) == 0 && len(b.Cursors) == 0
}

// DB is an open state database. Its methods are not safe for concurrent
// use: the store's writer is its one user after Open.
type DB struct {
	dir, path string
	db        *sql.DB
	lock      *os.File
	recovered error
	nextEID   uint64
}

// Dir returns the state directory.
func (d *DB) Dir() string { return d.dir }

// Path returns the database file.
func (d *DB) Path() string { return d.path }

// Recovered returns why the database found at Open could not be used and
// where it was moved, or nil when it was read (or there was none).
func (d *DB) Recovered() error { return d.recovered }

// Open prepares the state directory dir (see prepareDir), takes its lock,
// and opens and reads the database in it. A database that cannot be read
// (damaged, torn, not SQLite, another program's) is moved aside to
// state.db.corrupt-<time> and a fresh one is made; Recovered says so. Open
// fails only when no database can be used at all: the directory is unsafe
// or not writable, another process holds it, the disk is full.
func Open(ctx context.Context, dir string) (*DB, *Snapshot, error) {
	abs, err := prepareDir(dir)
	if err != nil {
		return nil, nil, err
	}
	lock, err := takeLock(ctx, abs)
	if err != nil {
		return nil, nil, err
	}
	d := &DB{dir: abs, path: filepath.Join(abs, FileName), lock: lock}
	snap, err := d.openAndLoad()
	if err != nil && isDamage(err) {
		d.close()
		moved, mvErr := moveAside(d.path)
		if mvErr != nil {
			lock.Close()
			return nil, nil, fmt.Errorf("state database %s is unreadable (%v) and could not be moved aside: %w", d.path, err, mvErr)
		}
		d.recovered = fmt.Errorf("state database %s was unreadable (%v); moved to %s and started afresh", d.path, err, moved)
		snap, err = d.openAndLoad()
	}
	if err != nil {
		d.close()
		lock.Close()
		return nil, nil, fmt.Errorf("state database %s: %w", d.path, err)
	}
	return d, snap, nil
}

// Close closes the database and releases the directory.
func (d *DB) Close() error {
	err := d.close()
	if d.lock != nil {
		d.lock.Close()
		d.lock = nil
	}
	return err
}

func (d *DB) close() error {
	if d.db == nil {
		return nil
	}
	err := d.db.Close()
	d.db = nil
	return err
}

var errLocked = errors.New("locked")

// takeLock locks dir's lock file, waiting up to LockWait for another
// process to let go of it.
func takeLock(ctx context.Context, dir string) (*os.File, error) {
	p := filepath.Join(dir, LockName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state directory lock %s: %w", p, err)
	}
	deadline := time.Now().Add(LockWait)
	for {
		err := lockFile(f)
		if err == nil {
			// Say who holds it, for the next one's error message.
			f.Truncate(0)
			f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
			return f, nil
		}
		if !errors.Is(err, errLocked) {
			f.Close()
			return nil, fmt.Errorf("state directory lock %s: %w", p, err)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			holder, _ := os.ReadFile(p)
			f.Close()
			return nil, fmt.Errorf("state directory %s is in use by another tsclientwatch process (pid %s); only one may use it at a time",
				dir, strings.TrimSpace(string(holder)))
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// errDamaged marks a database whose content is not what this program
// writes: it is moved aside like a corrupt file.
var errDamaged = errors.New("not a tsclientwatch state database")

// isDamage tells a database that cannot be used apart from a directory or
// disk that cannot be written: the first is moved aside, the second is
// reported.
func isDamage(err error) bool {
	if errors.Is(err, errDamaged) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_FORMAT, sqlite3.SQLITE_MISMATCH:
			return true
		}
	}
	return false
}

// IsDiskFull reports whether err says the disk (or a quota) is full.
func IsDiskFull(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == sqlite3.SQLITE_FULL
	}
	return false
}

// moveAside renames the database and its WAL and shared-memory files to
// <name>.corrupt-<time>, and removes older such copies beyond keepCorrupt.
func moveAside(path string) (string, error) {
	suffix := ".corrupt-" + time.Now().UTC().Format("20060102T150405.000000000Z")
	moved := path + suffix
	if err := os.Rename(path, moved); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	for _, ext := range []string{"-wal", "-shm"} {
		if err := os.Rename(path+ext, moved+ext); err != nil && !errors.Is(err, fs.ErrNotExist) {
			os.Remove(path + ext) // never replay an old WAL into a fresh file
		}
	}
	old, _ := filepath.Glob(path + ".corrupt-*")
	var bases []string
	for _, o := range old {
		if !strings.HasSuffix(o, "-wal") && !strings.HasSuffix(o, "-shm") {
			bases = append(bases, o)
		}
	}
	slices.Sort(bases) // the time suffix sorts by age
	for len(bases) > keepCorrupt {
		for _, ext := range []string{"", "-wal", "-shm"} {
			os.Remove(bases[0] + ext)
		}
		bases = bases[1:]
	}
	return moved, nil
}

// openAndLoad opens the database (creating it if missing), brings its
// schema up to date and reads it whole.
func (d *DB) openAndLoad() (snap *Snapshot, err error) {
	defer func() {
		// The SQLite code is C translated to Go: a damaged file must not
		// take the process down with it.
		if p := recover(); p != nil {
			d.close()
			snap, err = nil, fmt.Errorf("%w: reading it failed: %v", errDamaged, p)
		}
	}()
	// The file is made before SQLite opens it, so it is private whatever
	// the umask; SQLite gives the -wal and -shm files the same mode.
	f, err := os.OpenFile(d.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	f.Close()
	q := url.Values{}
	for _, p := range []string{
		"busy_timeout(5000)",
		"journal_mode(WAL)",
		"synchronous(FULL)", // a commit survives a power cut, not only a crash
		"journal_size_limit(16777216)",
		"secure_delete(off)",
	} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+d.path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1) // one writer; keeps the pragmas on the one connection
	d.db = db
	if err := d.migrate(); err != nil {
		return nil, err
	}
	return d.load()
}

// migrations bring the schema from version i to i+1. Only ever append:
// a field added later is "ALTER TABLE detections ADD COLUMN x ... NOT NULL
// DEFAULT ..." (and the same on pending), which SQLite does without
// rewriting the table.
var migrations = []string{
	// 1: the first schema. The columns of the detection fields are added
	// by ensureColumns (see columns.go).
	`CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY NOT NULL) STRICT;
	CREATE TABLE detections (
		eid       INTEGER PRIMARY KEY,
		ident     BLOB NOT NULL UNIQUE,
		added     INTEGER NOT NULL, -- Unix ns: expiry counts from it
		read      INTEGER NOT NULL DEFAULT 0,
		truncated INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE pending (
		id        INTEGER PRIMARY KEY,
		ident     BLOB NOT NULL UNIQUE,
		added     INTEGER NOT NULL,
		truncated INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE tombstones (seq INTEGER PRIMARY KEY, ident BLOB NOT NULL UNIQUE);
	CREATE TABLE cursors (source TEXT PRIMARY KEY, value BLOB NOT NULL, updated INTEGER NOT NULL);`,
}

// SchemaVersion is the schema this program writes.
var SchemaVersion = len(migrations)

func (d *DB) migrate() error {
	var app, version int
	if err := d.db.QueryRow("PRAGMA application_id").Scan(&app); err != nil {
		return err
	}
	if err := d.db.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	switch {
	case app == 0 && version == 0:
		var n int
		if err := d.db.QueryRow("SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
			return err
		}
		if n != 0 {
			return fmt.Errorf("%w: it has tables but no tsclientwatch mark", errDamaged)
		}
	case app != applicationID:
		return fmt.Errorf("%w: application id 0x%x", errDamaged, app)
	}
	tx, err := d.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for v := version; v < len(migrations); v++ {
		if _, err := tx.Exec(migrations[v]); err != nil {
			return fmt.Errorf("schema version %d: %w", v+1, err)
		}
	}
	if version == 0 {
		if _, err := tx.Exec("INSERT INTO meta (key, value) VALUES ('created', ?), ('next_eid', 1)", time.Now().UnixNano()); err != nil {
			return err
		}
		if _, err := tx.Exec(fmt.Sprintf("PRAGMA application_id = %d", applicationID)); err != nil {
			return err
		}
	}
	if version < len(migrations) {
		if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
			return err
		}
	}
	if err := ensureColumns(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// ensureColumns adds the columns the detection fields need and the file
// lacks; columns the file has beyond them (from a newer build) stay.
func ensureColumns(tx *sql.Tx) error {
	defs := columnDefs()
	for _, table := range []string{"detections", "pending"} {
		rows, err := tx.Query(`SELECT name FROM pragma_table_info(?)`, table)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			have[n] = true
		}
		if err := closeRows(rows); err != nil {
			return err
		}
		if len(have) == 0 {
			return fmt.Errorf("%w: table %s is missing", errDamaged, table)
		}
		for _, f := range fields {
			for _, c := range f.cols {
				if have[c] {
					continue
				}
				if _, err := tx.Exec(fmt.Sprintf(`ALTER TABLE %s ADD COLUMN "%s" %s`, table, c, defs[c])); err != nil {
					return fmt.Errorf("add column %s.%s: %w", table, c, err)
				}
			}
		}
	}
	return nil
}

// rowColumns are the columns of a row after its key: identity, when it was
// added, whether it was cut, then the detection's fields.
func rowColumns() string { return "ident, added, truncated, " + fieldColumns() }

func rowPlaceholders() string {
	return strings.TrimSuffix(strings.Repeat("?, ", 3+fieldCount()), ", ")
}

func rowArgs(r *Row) []any {
	return append([]any{r.Ident[:], r.Added.UnixNano(), r.Truncated}, fieldArgs(&r.Detection)...)
}

// rowScanner reads rowColumns (after the key columns) into rows.
type rowScanner struct {
	ident []byte
	added int64
	trunc bool
	f     *scanned
}

func newRowScanner() *rowScanner { return &rowScanner{f: newScanned()} }

func (s *rowScanner) scan(rows *sql.Rows, r *Row, first ...any) error {
	dest := append(append(first, &s.ident, &s.added, &s.trunc), s.f.dests...)
	if err := rows.Scan(dest...); err != nil {
		return fmt.Errorf("%w: %v", errDamaged, err)
	}
	if len(s.ident) != len(r.Ident) {
		return fmt.Errorf("%w: identity of %d bytes", errDamaged, len(s.ident))
	}
	copy(r.Ident[:], s.ident)
	r.Added = time.Unix(0, s.added)
	r.Truncated = s.trunc
	return s.f.fill(&r.Detection)
}

func (d *DB) load() (*Snapshot, error) {
	snap := &Snapshot{Cursors: map[string][]byte{}}
	var created, next int64
	if err := d.db.QueryRow("SELECT value FROM meta WHERE key = 'created'").Scan(&created); err != nil {
		return nil, fmt.Errorf("%w: meta created: %v", errDamaged, err)
	}
	if err := d.db.QueryRow("SELECT value FROM meta WHERE key = 'next_eid'").Scan(&next); err != nil {
		return nil, fmt.Errorf("%w: meta next_eid: %v", errDamaged, err)
	}
	snap.Created = time.Unix(0, created)

	sc := newRowScanner()
	rows, err := d.db.Query("SELECT eid, read, " + rowColumns() + " FROM detections ORDER BY eid")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var r Row
		var eid int64
		if err := sc.scan(rows, &r, &eid, &r.Read); err != nil {
			rows.Close()
			return nil, err
		}
		r.EID = uint64(eid)
		snap.Rows = append(snap.Rows, r)
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}

	rows, err = d.db.Query("SELECT id, " + rowColumns() + " FROM pending ORDER BY id")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var r Row
		if err := sc.scan(rows, &r, &r.ID); err != nil {
			rows.Close()
			return nil, err
		}
		snap.Pending = append(snap.Pending, r)
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}

	rows, err = d.db.Query("SELECT ident FROM tombstones ORDER BY seq")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil || len(b) != 16 {
			rows.Close()
			return nil, fmt.Errorf("%w: tombstone: %v", errDamaged, err)
		}
		snap.Tombstones = append(snap.Tombstones, [16]byte(b))
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}

	rows, err = d.db.Query("SELECT source, value FROM cursors")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var src string
		var v []byte
		if err := rows.Scan(&src, &v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("%w: cursor: %v", errDamaged, err)
		}
		snap.Cursors[src] = v
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}

	// The next eid follows every eid ever stored, whatever the meta says.
	snap.NextEID = max(uint64(next), 1)
	if n := len(snap.Rows); n > 0 {
		snap.NextEID = max(snap.NextEID, snap.Rows[n-1].EID+1)
	}
	d.nextEID = snap.NextEID
	return snap, nil
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

// Commit applies b in one transaction: everything in it is stored, or
// nothing is.
func (d *DB) Commit(b *Batch) (err error) {
	if b.Empty() {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("state database %s: commit failed: %v", d.path, p)
		}
	}()
	tx, err := d.db.Begin()
	if err != nil {
		return d.wrap(err)
	}
	defer tx.Rollback()
	if err := d.apply(tx, b); err != nil {
		return d.wrap(err)
	}
	if err := tx.Commit(); err != nil {
		return d.wrap(err)
	}
	if b.NextEID > d.nextEID {
		d.nextEID = b.NextEID
	}
	return nil
}

func (d *DB) wrap(err error) error {
	return fmt.Errorf("state database %s: %w", d.path, err)
}

func (d *DB) apply(tx *sql.Tx, b *Batch) error {
	if len(b.Rows) > 0 || len(b.Release) > 0 {
		ins, err := tx.Prepare("INSERT OR IGNORE INTO detections (eid, read, " + rowColumns() + ") VALUES (?, ?, " + rowPlaceholders() + ")")
		if err != nil {
			return err
		}
		defer ins.Close()
		for i := range b.Rows {
			r := &b.Rows[i]
			if _, err := ins.Exec(append([]any{int64(r.EID), r.Read}, rowArgs(r)...)...); err != nil {
				return fmt.Errorf("insert eid %d: %w", r.EID, err)
			}
		}
		for i := range b.Release {
			r := &b.Release[i]
			if _, err := tx.Exec("DELETE FROM pending WHERE id = ?", r.ID); err != nil {
				return err
			}
			if _, err := ins.Exec(append([]any{int64(r.EID), r.Read}, rowArgs(r)...)...); err != nil {
				return fmt.Errorf("release pending %d as eid %d: %w", r.ID, r.EID, err)
			}
		}
	}
	if len(b.Pending) > 0 {
		ins, err := tx.Prepare("INSERT OR IGNORE INTO pending (id, " + rowColumns() + ") VALUES (?, " + rowPlaceholders() + ")")
		if err != nil {
			return err
		}
		defer ins.Close()
		for i := range b.Pending {
			r := &b.Pending[i]
			if _, err := ins.Exec(append([]any{r.ID}, rowArgs(r)...)...); err != nil {
				return fmt.Errorf("insert pending %d: %w", r.ID, err)
			}
		}
	}
	if err := execEach(tx, "DELETE FROM detections WHERE eid = ?", b.Delete); err != nil {
		return err
	}
	if err := execEach(tx, "UPDATE detections SET read = 1 WHERE eid = ?", b.Read); err != nil {
		return err
	}
	if len(b.Buried) > 0 {
		ins, err := tx.Prepare("INSERT OR IGNORE INTO tombstones (ident) VALUES (?)")
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, id := range b.Buried {
			if _, err := ins.Exec(id[:]); err != nil {
				return err
			}
		}
		if b.KeepTombstones > 0 {
			if _, err := tx.Exec("DELETE FROM tombstones WHERE seq <= (SELECT max(seq) FROM tombstones) - ?", b.KeepTombstones); err != nil {
				return err
			}
		}
	}
	now := time.Now().UnixNano()
	for src, v := range b.Cursors {
		var err error
		if v == nil {
			_, err = tx.Exec("DELETE FROM cursors WHERE source = ?", src)
		} else {
			_, err = tx.Exec("INSERT INTO cursors (source, value, updated) VALUES (?, ?, ?) ON CONFLICT (source) DO UPDATE SET value = excluded.value, updated = excluded.updated", src, v, now)
		}
		if err != nil {
			return fmt.Errorf("cursor %q: %w", src, err)
		}
	}
	if b.NextEID > d.nextEID {
		if _, err := tx.Exec("UPDATE meta SET value = ? WHERE key = 'next_eid'", int64(b.NextEID)); err != nil {
			return err
		}
	}
	return nil
}

func execEach(tx *sql.Tx, query string, eids []uint64) error {
	if len(eids) == 0 {
		return nil
	}
	st, err := tx.Prepare(query)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, eid := range eids {
		if _, err := st.Exec(int64(eid)); err != nil {
			return err
		}
	}
	return nil
}
