package evidence

import (
	"container/list"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tsclientwatch/tsclientwatch/internal/privdir"
)

// tempPrefix starts the names of files being written; a crash leaves them,
// and openCopyDir removes them.
const tempPrefix = ".partial-"

// copyDir is the evidence directory: copies named by their SHA-256, each
// with a JSON sidecar, at most max bytes in all (copies and sidecars).
type copyDir struct {
	path string
	max  int64
	log  *slog.Logger

	mu     sync.Mutex
	total  int64
	byHash map[string]*list.Element // of *copyEntry
	lru    *list.List               // least recently seen first
}

type copyEntry struct {
	sha   string
	bytes int64 // copy and sidecar
}

// openCopyDir prepares dir (privdir), removes temporary files and
// sidecars without a copy, learns the size of the copies there, and
// evicts the least recently seen when they exceed max (a lower bound than
// last time).
func openCopyDir(dir string, max int64, log *slog.Logger) (*copyDir, error) {
	abs, err := privdir.Prepare(dir, "evidence directory")
	if err != nil {
		return nil, err
	}
	d := &copyDir{path: abs, max: max, log: log, byHash: map[string]*list.Element{}, lru: list.New()}
	ents, err := os.ReadDir(abs)
	if err != nil {
		return nil, fmt.Errorf("evidence directory %s: %w", abs, err)
	}
	type found struct {
		sha   string
		bytes int64
		seen  time.Time
	}
	var copies []found
	sidecars := map[string]int64{}
	removed := 0
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, tempPrefix):
			if os.Remove(filepath.Join(abs, name)) == nil {
				removed++
			}
		case isHash(name) && e.Type().IsRegular():
			fi, err := e.Info()
			if err != nil {
				continue
			}
			copies = append(copies, found{name, fi.Size(), fi.ModTime()})
		case strings.HasSuffix(name, ".json") && isHash(strings.TrimSuffix(name, ".json")) && e.Type().IsRegular():
			if fi, err := e.Info(); err == nil {
				sidecars[strings.TrimSuffix(name, ".json")] = fi.Size()
			}
		}
	}
	sort.Slice(copies, func(i, j int) bool { return copies[i].seen.Before(copies[j].seen) })
	for _, c := range copies {
		b := c.bytes + sidecars[c.sha]
		delete(sidecars, c.sha)
		d.byHash[c.sha] = d.lru.PushBack(&copyEntry{c.sha, b})
		d.total += b
	}
	for sha := range sidecars { // a crash between the copy's removal and its sidecar's
		if os.Remove(filepath.Join(abs, sha+".json")) == nil {
			removed++
		}
	}
	if removed > 0 {
		log.Info("evidence: removed files an earlier run left unfinished", "dir", abs, "files", removed)
	}
	if n := d.evictFor(0); n > 0 {
		log.Info("evidence: evicted copies over evidence.max_dir_bytes", "dir", abs, "copies", n, "max_dir_bytes", max)
	}
	return d, nil
}

// isHash reports a lower-case hex SHA-256.
func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// temp creates a private temporary file in the directory (0600, O_EXCL).
func (d *copyDir) temp() (*os.File, error) {
	return os.CreateTemp(d.path, tempPrefix+"*")
}

// evictFor removes the least recently seen copies, with their sidecars,
// until need more bytes fit within max. The caller holds mu, or has the
// directory to itself.
func (d *copyDir) evictFor(need int64) int {
	n := 0
	for d.total+need > d.max && d.lru.Len() > 0 {
		e := d.lru.Remove(d.lru.Front()).(*copyEntry)
		delete(d.byHash, e.sha)
		p := filepath.Join(d.path, e.sha)
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			d.log.Warn("evidence: evict a copy", "path", p, "err", err)
		}
		os.Remove(p + ".json")
		d.total -= e.bytes
		n++
	}
	return n
}

// keep moves the read's temporary file to <sha256> beside its sidecar, or,
// when that hash is kept already, drops it and marks the kept copy seen
// now. It returns the copy's path, whether a new copy was written, how
// many old ones were evicted for it, and why no copy is kept.
func (d *copyDir) keep(g *gathered, res Result, r *request) (path string, kept bool, evicted int, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	final := filepath.Join(d.path, res.SHA256)
	if el, ok := d.byHash[res.SHA256]; ok {
		now := time.Now()
		if os.Chtimes(final, now, now) == nil {
			g.discard()
			d.lru.MoveToBack(el)
			return final, false, 0, nil
		}
		// Removed behind our back: forget it and keep this one.
		d.total -= el.Value.(*copyEntry).bytes
		d.lru.Remove(el)
		delete(d.byHash, res.SHA256)
	}
	side, err := json.MarshalIndent(newSidecar(g, res, r), "", "  ")
	if err != nil {
		g.discard()
		return "", false, 0, fmt.Errorf("keep a copy of %s: sidecar: %w", g.from, err)
	}
	side = append(side, '\n')
	need := res.Size + int64(len(side))
	if need > d.max {
		g.discard()
		return "", false, 0, fmt.Errorf("%s: %w: %d bytes with its sidecar is more than evidence.max_dir_bytes (%d)", g.from, errNotKept, need, d.max)
	}
	evicted = d.evictFor(need)
	if err := os.Rename(g.tmpPath, final); err != nil {
		g.discard()
		return "", false, evicted, fmt.Errorf("keep a copy of %s in %s: %w", g.from, d.path, err)
	}
	g.tmpPath = ""
	if err := d.writeSidecar(final+".json", side); err != nil {
		os.Remove(final)
		return "", false, evicted, fmt.Errorf("keep a copy of %s in %s: sidecar: %w", g.from, d.path, err)
	}
	if err := syncDir(d.path); err != nil {
		d.log.Warn("evidence: sync directory", "dir", d.path, "err", err)
	}
	d.byHash[res.SHA256] = d.lru.PushBack(&copyEntry{res.SHA256, need})
	d.total += need
	return final, true, evicted, nil
}

// writeSidecar writes b to path through a synced temporary file, so a
// sidecar is whole or absent.
func (d *copyDir) writeSidecar(path string, b []byte) error {
	f, err := d.temp()
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// sidecar is the JSON kept beside a copy: what was read, when, from where,
// and the detection that asked for it (keys as the tsclient_executions
// columns). It describes the first sighting of that content.
type sidecar struct {
	SHA256    string           `json:"sha256"`
	Size      int64            `json:"size"`      // bytes in the copy (hashed)
	FileSize  int64            `json:"file_size"` // fstat size before the read
	Changed   bool             `json:"changed"`   // the file changed while it was read
	ReadAt    string           `json:"read_at"`   // RFC 3339, UTC
	ReadFrom  string           `json:"read_from"` // "/proc/<pid>/exe -> <link>" or the path opened
	PID       int64            `json:"pid"`
	Path      string           `json:"path"` // as the watcher reported it
	Detection sidecarDetection `json:"detection"`
}

type sidecarDetection struct {
	Time          string  `json:"time,omitempty"` // RFC 3339
	PID           int64   `json:"pid"`
	Parent        int64   `json:"parent"`
	Path          string  `json:"path"`
	Cmdline       string  `json:"cmdline"`
	Cwd           string  `json:"cwd"`
	ParentPath    string  `json:"parent_path"`
	Username      string  `json:"username"`
	Hostname      string  `json:"hostname"`
	SHA256        string  `json:"sha256"` // from the log, when it had one
	ClientDrive   string  `json:"client_drive"`
	SharePath     string  `json:"share_path"`
	Form          string  `json:"form"`
	Source        string  `json:"source"`
	RuleID        string  `json:"rule_id"`
	FSType        string  `json:"fs_type"`
	PathTruncated bool    `json:"path_truncated"`
	LogonID       string  `json:"logon_id"`
	SessionID     *uint32 `json:"session_id"`
	ClientName    string  `json:"client_name"`
	ClientAddress string  `json:"client_address"`
	LogonTime     *int64  `json:"logon_time"`
	Attribution   string  `json:"attribution"`
}

func newSidecar(g *gathered, res Result, r *request) sidecar {
	d := &r.Detection
	s := sidecar{
		SHA256: res.SHA256, Size: res.Size, FileSize: g.fileSize, Changed: res.Changed,
		ReadAt: g.readAt.UTC().Format(time.RFC3339Nano), ReadFrom: g.from, PID: r.PID, Path: r.Path,
		Detection: sidecarDetection{
			PID: d.PID, Parent: d.ParentPID, Path: d.Executable, Cmdline: d.CommandLine, Cwd: d.WorkingDirectory,
			ParentPath: d.ParentExecutable, Username: d.User, Hostname: d.Host, SHA256: d.SHA256,
			ClientDrive: d.ClientDrive, SharePath: d.SharePath, Form: string(d.Form), Source: d.Source, RuleID: d.RuleID,
			FSType: d.FSType, PathTruncated: d.PathTruncated, LogonID: d.LogonID.String(),
			ClientName: d.ClientName, ClientAddress: d.ClientAddress, Attribution: d.Attribution,
		},
	}
	if !d.Time.IsZero() {
		s.Detection.Time = d.Time.UTC().Format(time.RFC3339Nano)
	}
	if id, ok := d.SessionID.Get(); ok {
		s.Detection.SessionID = &id
	}
	if d.LogonTime != 0 {
		lt := d.LogonTime
		s.Detection.LogonTime = &lt
	}
	return s
}
