// Package xrdp tells which xrdp session and RDP client a program run from a
// client drive on Linux belongs to. The chain (docs/attribution.md):
//
//  1. the mount the executable lies on must be xrdp-chansrv's FUSE mount;
//     its user_id super option is the session's user;
//  2. the xrdp-chansrv process serving it runs as that user, as a child of
//     a root-owned xrdp session process (xrdp-sesman's session child, or
//     xrdp-sesexec), and its DISPLAY names the X display: the session id;
//  3. the client address comes from utmp, where xrdp (since 2024) writes a
//     record with ut_line "xrdp:<display>" and the client in ut_host, or
//     else from xrdp-sesman's log: the "Starting session" or "++ reconnected
//     session" line of that display, user and session process.
//
// Nothing is guessed: a step that finds nothing, or more than one answer,
// leaves the event as it was (or with the session id only). Every OS
// access goes through System, so the logic runs and is tested on any
// platform against a directory laid out like a host.
package xrdp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/mountinfo"
)

// Defaults of Options.
const (
	DefaultSesmanLog = "/var/log/xrdp-sesman.log" // sesman.ini [Logging] LogFile
	DefaultUtmp      = "/var/run/utmp"
)

// Attribution values this package writes: "xrdp" when the client came from
// xrdp's utmp record, "xrdp-log" when from sesman's log, which also holds
// text clients type (their user names) and so weighs less.
const (
	AttributionUtmp = detector.AttributionXrdp
	AttributionLog  = "xrdp-log"
)

// System is the file access the resolver needs. Dir is the real one.
type System interface {
	// ReadFile returns at most max bytes from the start of a file.
	ReadFile(path string, max int64) ([]byte, error)
	// ReadTail returns at most max bytes from the end of a file.
	ReadTail(path string, max int64) ([]byte, error)
	// PIDs lists the processes (the numeric entries of /proc).
	PIDs() ([]int, error)
}

// Dir is the System of a host whose file system root is Root: "/" for this
// host; tests use a directory laid out like one (proc/, var/run/utmp).
type Dir struct{ Root string }

func (d Dir) path(p string) string { return filepath.Join(d.Root, filepath.FromSlash(p)) }

// ReadFile implements System.
func (d Dir) ReadFile(p string, limit int64) ([]byte, error) {
	f, err := os.Open(d.path(p))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// ReadTail implements System.
func (d Dir) ReadTail(p string, limit int64) ([]byte, error) {
	f, err := os.Open(d.path(p))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", p)
	}
	off := max(fi.Size()-limit, 0)
	b := make([]byte, fi.Size()-off)
	n, err := f.ReadAt(b, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	b = b[:n]
	if off > 0 {
		// Start at a whole line.
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return b, nil
}

// PIDs implements System.
func (d Dir) PIDs() ([]int, error) {
	entries, err := os.ReadDir(d.path("/proc"))
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out, nil
}

// Options configure a Resolver.
type Options struct {
	// MountNames are the client-drive mount directory names
	// (detector.Config.XrdpMountNames): only executables below one are
	// looked at.
	MountNames []string
	// SesmanLog is xrdp-sesman's log (config attribution.xrdp_sesman_log);
	// "" means DefaultSesmanLog.
	SesmanLog string
	// Utmp is the utmp file; "" means DefaultUtmp.
	Utmp string
	// User returns the name of a uid ("" when it has none), to match utmp
	// and log lines with the mount's owner. nil matches by uid only where
	// the record has one.
	User func(uid uint32) string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Location reads the local times of sesman's log; nil means
	// time.Local.
	Location *time.Location
}

// How much is read, and for how long answers are kept: a program started
// from a client drive is looked up once per mount and cacheTTL, however
// many starts a flood from it brings.
const (
	maxSmallFile = 1 << 20  // a /proc entry
	maxUtmp      = 16 << 20 // utmp holds one record per terminal: small
	maxLogTail   = 4 << 20  // the end of sesman's log
	mountsTTL    = time.Second
	cacheTTL     = 5 * time.Second
	maxCached    = 64
)

// Resolver attributes events. It is safe for concurrent use.
type Resolver struct {
	sys  System
	opts Options

	mu       sync.Mutex
	mounts   []mountinfo.Mount
	mountsAt time.Time
	cache    map[string]cached // by mount point
}

// Session is what the resolver found for one mount.
type Session struct {
	Display     int       // the X display: the event's session id
	User        string    // the mount owner's name
	Address     string    // the client; "" when neither utmp nor the log says
	Start       time.Time // when the session began; zero when unknown
	Attribution string    // AttributionUtmp or AttributionLog; "" without an address
}

type cached struct {
	s       Session
	ok      bool
	expires time.Time
}

// New returns a resolver over sys.
func New(sys System, opts Options) *Resolver {
	if opts.SesmanLog == "" {
		opts.SesmanLog = DefaultSesmanLog
	}
	if opts.Utmp == "" {
		opts.Utmp = DefaultUtmp
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	return &Resolver{sys: sys, opts: opts, cache: make(map[string]cached)}
}

// Attribute fills ev's SessionID, ClientAddress, LogonTime and Attribution
// when its executable lies on an xrdp client-drive mount whose session can
// be told, and reports whether it found the session. Fields ev already has
// are kept. Events elsewhere cost a few comparisons.
func (r *Resolver) Attribute(ev *detector.Event) bool {
	if !r.candidate(ev) {
		return false
	}
	s, ok := r.Lookup(ev.Executable, int(ev.PID))
	if !ok {
		return false
	}
	if !ev.SessionID.Known() {
		ev.SessionID = detector.SessionOf(uint32(s.Display))
	}
	if ev.ClientAddress == "" && ev.ClientName == "" && s.Address != "" {
		ev.ClientAddress, ev.Attribution = s.Address, s.Attribution
	}
	if ev.LogonTime == 0 && !s.Start.IsZero() {
		ev.LogonTime = s.Start.Unix()
	}
	return true
}

// candidate is the cheap test: a Linux path below a client-drive mount
// name, on a FUSE file system when the watcher knows which.
func (r *Resolver) candidate(ev *detector.Event) bool {
	p := ev.Executable
	if p == "" || p[0] != '/' || ev.HostOS == detector.OSWindows || (ev.FSType != "" && !detector.IsFUSE(ev.FSType)) {
		return false
	}
	for _, n := range r.opts.MountNames {
		if n != "" && strings.Contains(p, "/"+n+"/") {
			return true
		}
	}
	return false
}

// Lookup finds the session of the xrdp client-drive mount holding path;
// pid, when it still runs, settles which chansrv serves it if the user has
// several sessions.
func (r *Resolver) Lookup(path string, pid int) (Session, bool) {
	now := r.opts.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mounts == nil || now.Sub(r.mountsAt) >= mountsTTL || now.Before(r.mountsAt) {
		b, err := r.sys.ReadFile("/proc/self/mountinfo", 16<<20)
		if err != nil {
			return Session{}, false
		}
		ms, err := mountinfo.Parse(bytes.NewReader(b), "/proc/self/mountinfo")
		if err != nil && len(ms) == 0 {
			return Session{}, false
		}
		r.mounts, r.mountsAt = ms, now
	}
	m, ok := holding(r.mounts, path)
	if !ok || !chansrv(m) || m.UID < 0 {
		return Session{}, false
	}
	key := strconv.Itoa(m.ID) + " " + m.Point
	if c, ok := r.cache[key]; ok && now.Before(c.expires) {
		return c.s, c.ok
	}
	s, found := r.resolve(m, pid)
	if len(r.cache) >= maxCached {
		clear(r.cache)
	}
	r.cache[key] = cached{s: s, ok: found, expires: now.Add(cacheTTL)}
	return s, found
}

// proc is what the resolver reads of one process.
type proc struct {
	pid, ppid int
	uid       int64 // real uid
	display   int   // from DISPLAY; -1 when none
}

// resolve runs the chain for mount m.
func (r *Resolver) resolve(m mountinfo.Mount, pid int) (Session, bool) {
	uid := uint32(m.UID)
	var user string
	if r.opts.User != nil {
		user = r.opts.User(uid)
	}
	chansrv, ok := r.chansrv(uid, pid)
	if !ok {
		return Session{}, false
	}
	s := Session{Display: chansrv.display, User: user}
	if a, start, ok := r.fromUtmp(chansrv.display, user); ok {
		s.Address, s.Start, s.Attribution = a, start, AttributionUtmp
		return s, true
	}
	if a, start, ok := r.fromLog(chansrv, user, int64(uid)); ok {
		s.Address, s.Start, s.Attribution = a, start, AttributionLog
	}
	return s, true
}

// chansrv finds the xrdp-chansrv serving uid's mount: comm xrdp-chansrv,
// run by uid, whose parent is a root-owned xrdp session process (a user
// can name any program xrdp-chansrv, but not make root its parent). With
// several such (the user has several sessions), the one whose display the
// program's own DISPLAY names.
func (r *Resolver) chansrv(uid uint32, pid int) (proc, bool) {
	pids, err := r.sys.PIDs()
	if err != nil {
		return proc{}, false
	}
	var found []proc
	for _, p := range pids {
		if r.comm(p) != "xrdp-chansrv" {
			continue
		}
		c, ok := r.status(p)
		if !ok || c.uid != int64(uid) {
			continue
		}
		parent, ok := r.status(c.ppid)
		if !ok || parent.uid != 0 || !strings.HasPrefix(r.comm(c.ppid), "xrdp-ses") {
			continue
		}
		if c.display = r.display(p); c.display < 0 {
			continue
		}
		found = append(found, c)
	}
	switch len(found) {
	case 0:
		return proc{}, false
	case 1:
		return found[0], true
	}
	if d := r.display(pid); d >= 0 && pid > 0 {
		i := slices.IndexFunc(found, func(c proc) bool { return c.display == d })
		if i >= 0 && !slices.ContainsFunc(found[i+1:], func(c proc) bool { return c.display == d }) {
			return found[i], true
		}
	}
	return proc{}, false
}

func (r *Resolver) comm(pid int) string {
	b, err := r.sys.ReadFile("/proc/"+strconv.Itoa(pid)+"/comm", 64)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

// status reads the real uid and the parent of pid from /proc/pid/status.
func (r *Resolver) status(pid int) (proc, bool) {
	if pid <= 0 {
		return proc{}, false
	}
	b, err := r.sys.ReadFile("/proc/"+strconv.Itoa(pid)+"/status", maxSmallFile)
	if err != nil {
		return proc{}, false
	}
	p := proc{pid: pid, uid: -1, ppid: -1, display: -1}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "PPid":
			p.ppid, _ = strconv.Atoi(f[0])
		case "Uid":
			if n, err := strconv.ParseUint(f[0], 10, 32); err == nil {
				p.uid = int64(n)
			}
		}
	}
	return p, p.uid >= 0 && p.ppid >= 0
}

// display reads the X display number from pid's DISPLAY (":10.0", ":10",
// "localhost:10.0"); -1 when there is none.
func (r *Resolver) display(pid int) int {
	if pid <= 0 {
		return -1
	}
	b, err := r.sys.ReadFile("/proc/"+strconv.Itoa(pid)+"/environ", maxSmallFile)
	if err != nil {
		return -1
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		v, ok := bytes.CutPrefix(kv, []byte("DISPLAY="))
		if !ok {
			continue
		}
		s := string(v)
		i := strings.LastIndexByte(s, ':')
		if i < 0 {
			return -1
		}
		s, _, _ = strings.Cut(s[i+1:], ".")
		if n := atoi(s); allDigits(s) && n >= 0 {
			return n
		}
		return -1
	}
	return -1
}

// fromUtmp finds the user process record xrdp writes for display
// ("xrdp:10"), of user when known; the last one in the file is the
// current.
func (r *Resolver) fromUtmp(display int, user string) (addr string, start time.Time, ok bool) {
	b, err := r.sys.ReadFile(r.opts.Utmp, maxUtmp)
	if err != nil {
		return "", time.Time{}, false
	}
	recs, _ := parseUtmp(b, r.opts.Utmp)
	line := utmpLinePrefx + strconv.Itoa(display)
	for i := len(recs) - 1; i >= 0; i-- {
		u := &recs[i]
		if u.typ != utmpUserProc || u.line != line || (user != "" && u.user != user) || hasControl([]byte(u.host)) {
			continue
		}
		if u.host == "" {
			return "", time.Time{}, false
		}
		if u.sec > 0 {
			start = time.Unix(u.sec, 0)
		}
		return sesmanAddress(u.host), start, true
	}
	return "", time.Time{}, false
}

// fromLog finds the session in sesman's log: its "Starting session" line
// (display, session process, user) and any later reconnect of the same
// session, whose address then wins. The session process must be chansrv's
// parent, so a line a client forged through a user name would also have
// to name a running session's process.
func (r *Resolver) fromLog(c proc, user string, uid int64) (addr string, start time.Time, ok bool) {
	b, err := r.sys.ReadTail(r.opts.SesmanLog, maxLogTail)
	if err != nil {
		return "", time.Time{}, false
	}
	for _, l := range parseSesman(b, r.opts.Location) {
		if l.display != c.display || l.sessionPID != c.ppid {
			continue
		}
		if l.uid >= 0 && l.uid != uid || l.uid < 0 && user != "" && l.user != user {
			continue
		}
		if l.start {
			start = l.time
		}
		if l.addr != "" {
			addr, ok = l.addr, true
		}
	}
	return addr, start, ok
}
