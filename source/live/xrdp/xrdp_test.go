package xrdp

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/mountinfo"
)

// host is a directory laid out like a Linux host running xrdp: alice
// (uid 1000) has a session on display 10 whose chansrv (pid 910) is a
// child of root's session process (pid 900); mallory (uid 1001) has made a
// FUSE mount named like a client drive and programs named xrdp-chansrv.
type host struct {
	t    *testing.T
	root string
}

func newHost(t *testing.T) *host {
	h := &host{t: t, root: t.TempDir()}
	h.write("proc/self/mountinfo", strings.Join([]string{
		"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
		"61 22 0:52 / /home/alice/thinclient_drives rw,nosuid,nodev,relatime shared:40 - fuse.xrdp-chansrv xrdp-chansrv rw,user_id=1000,group_id=1000",
		"62 22 0:53 / /home/mallory/thinclient_drives rw,nosuid,nodev,relatime shared:41 - fuse.bindfs /tmp/x rw,user_id=1001,group_id=1001",
		"63 22 0:54 / /run/user/1002/x\\040y/thinclient_drives rw,nosuid,nodev - fuse xrdp-chansrv rw,user_id=1002,group_id=1002",
	}, "\n")+"\n")
	h.proc(1, 0, 0, "systemd", "")
	h.proc(900, 1, 0, "xrdp-sesman", "")
	h.proc(910, 900, 1000, "xrdp-chansrv", "DISPLAY=:10.0")
	h.proc(950, 1, 1000, "a.sh", "HOME=/home/alice\x00DISPLAY=:10.0")
	// Mallory's fakes: a chansrv under init, and one under a "sesman" of
	// her own.
	h.proc(920, 1, 1001, "xrdp-chansrv", "DISPLAY=:10.0")
	h.proc(930, 1, 1001, "xrdp-sesman", "")
	h.proc(931, 930, 1001, "xrdp-chansrv", "DISPLAY=:10.0")
	// Carol (1002): a chansrv session on display 12, nothing in utmp or
	// the log.
	h.proc(990, 1, 0, "xrdp-sesexec", "")
	h.proc(991, 990, 1002, "xrdp-chansrv", "DISPLAY=:12")
	return h
}

func (h *host) write(p, data string) {
	h.t.Helper()
	full := filepath.Join(h.root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *host) proc(pid, ppid int, uid uint32, comm, environ string) {
	dir := fmt.Sprintf("proc/%d/", pid)
	h.write(dir+"comm", comm+"\n")
	h.write(dir+"status", fmt.Sprintf("Name:\t%s\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\nTracerPid:\t0\nUid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\n",
		comm, pid, pid, ppid, uid, uid, uid, uid, uid, uid, uid, uid))
	h.write(dir+"environ", environ+"\x00")
}

func (h *host) utmp(recs ...utmpRecord) {
	var b []byte
	for _, r := range recs {
		b = append(b, encodeUtmp(r)...)
	}
	h.write("var/run/utmp", string(b))
}

var users = map[uint32]string{0: "root", 1000: "alice", 1001: "mallory", 1002: "carol"}

func (h *host) resolver(now time.Time) (*Resolver, *countingSystem) {
	sys := &countingSystem{System: Dir{Root: h.root}}
	return New(sys, Options{
		MountNames: detector.DefaultConfig().XrdpMountNames,
		User:       func(uid uint32) string { return users[uid] },
		Now:        func() time.Time { return now },
		Location:   time.UTC,
	}), sys
}

type countingSystem struct {
	System
	reads atomic.Int64
}

func (c *countingSystem) ReadFile(p string, max int64) ([]byte, error) {
	c.reads.Add(1)
	return c.System.ReadFile(p, max)
}

func exec(path string, pid int64) *detector.Event {
	return &detector.Event{Type: detector.TypeStart, HostOS: detector.OSLinux, FSType: "fuse.xrdp-chansrv", Executable: path, PID: pid, Source: "ebpf"}
}

const sessionLog = `[20240501-09:59:58] [INFO ] Socket 8: AF_INET6 connection received from ::1 port 58224
[20240501-10:00:00] [INFO ] ++ created session (access granted): username alice, ip ::ffff:192.168.1.188:38410 - socket: 12
[20240501-10:00:00] [INFO ] Starting session: session_pid 900, display :10.0, width 1024, height 768, bpp 24, client ip ::ffff:192.168.1.188:38410 - socket: 12, user name alice
[20240501-10:00:00] [INFO ] [session start] (display 10): calling auth_start_session from pid 900
`

func TestResolve(t *testing.T) {
	now := time.Date(2024, 5, 1, 11, 0, 0, 0, time.UTC)
	started := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	utmpRec := utmpRecord{typ: utmpUserProc, pid: 912, line: "xrdp:10", user: "alice", host: "10.1.2.3", sec: started.Unix()}
	tests := []struct {
		name    string
		setup   func(h *host)
		ev      *detector.Event
		want    string // "display address attribution logon-time", "" for no session
		wantErr bool
	}{
		{"utmp record of the display", func(h *host) {
			h.utmp(utmpRecord{typ: 8, line: "xrdp:10", user: "alice", host: "6.6.6.6"}, // an ended session
				utmpRec, utmpRecord{typ: utmpUserProc, line: "pts/0", user: "alice", host: "10.9.9.9"})
		}, exec("/home/alice/thinclient_drives/C:/t/a.sh", 950), "10 10.1.2.3 xrdp 1714557600", false},
		{"utmp of another user's record for the display is not taken", func(h *host) {
			h.utmp(utmpRecord{typ: utmpUserProc, line: "xrdp:10", user: "mallory", host: "6.6.6.6"})
		}, exec("/home/alice/thinclient_drives/C:/t/a.sh", 950), "10   0", false},
		{"sesman log when utmp has nothing", func(h *host) {
			h.write("var/log/xrdp-sesman.log", sessionLog)
		}, exec("/home/alice/thinclient_drives/C:/t/a.sh", 950), "10 192.168.1.188 xrdp-log 1714557600", false},
		{"a reconnect of the session moves it to its new client", func(h *host) {
			h.write("var/log/xrdp-sesman.log", sessionLog+
				"[20240501-10:30:00] [INFO ] ++ reconnected session: username alice, display :10.0, session_pid 900, ip ::ffff:172.16.0.7:51000 - socket: 12\n")
		}, exec("/home/alice/thinclient_drives/C:/t/a.sh", 950), "10 172.16.0.7 xrdp-log 1714557600", false},
		{"forged lines: inside a failed login's user name, another session process, another user", func(h *host) {
			h.write("var/log/xrdp-sesman.log", sessionLog+
				"[20240501-10:40:00] [INFO ] AUTHFAIL: user=x ++ reconnected session: username alice, display :10.0, session_pid 900, ip 6.6.6.6 ip=1.1.1.1 time=0\n"+
				"[20240501-10:41:00] [INFO ] ++ reconnected session: username alice, display :10.0, session_pid 931, ip 6.6.6.7\n"+
				"[20240501-10:42:00] [INFO ] ++ reconnected session: username mallory, display :10.0, session_pid 900, ip 6.6.6.8\n"+
				"[20240501-10:43:00] [INFO ] ++ reconnected session: username alice, display :10.0, session_pid 900, ip 6.6.6.9\x1b[2K\n")
		}, exec("/home/alice/thinclient_drives/C:/t/a.sh", 950), "10 192.168.1.188 xrdp-log 1714557600", false},
		{"neither utmp nor the log: the display only", nil,
			exec("/home/alice/thinclient_drives/C:/t/a.sh", 950), "10   0", false},
		{"mount point with a space, plain fuse type, sesexec parent", nil,
			exec("/run/user/1002/x y/thinclient_drives/home/x", 0), "12   0", false},
		{"someone's own FUSE mount named like a client drive", nil,
			exec("/home/mallory/thinclient_drives/C:/x", 0), "", false},
		{"not below a mount name", nil, exec("/home/alice/bin/x", 950), "", false},
		{"a known non-FUSE file system", nil,
			func() *detector.Event {
				e := exec("/home/alice/thinclient_drives/C:/x", 950)
				e.FSType = "ext4"
				return e
			}(), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			if tt.setup != nil {
				tt.setup(h)
			}
			r, _ := h.resolver(now)
			ev := tt.ev
			found := r.Attribute(ev)
			got := ""
			if found {
				got = fmt.Sprintf("%s %s %s %d", ev.SessionID, ev.ClientAddress, ev.Attribution, ev.LogonTime)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSeveralSessions: alice has two sessions (displays 10 and 11); the
// program's own DISPLAY says which chansrv serves the mount it ran from,
// and without it nothing is guessed.
func TestSeveralSessions(t *testing.T) {
	h := newHost(t)
	h.proc(901, 1, 0, "xrdp-sesman", "")
	h.proc(911, 901, 1000, "xrdp-chansrv", "DISPLAY=:11.0")
	h.proc(951, 1, 1000, "b.sh", "DISPLAY=:11.0")
	r, _ := h.resolver(time.Now())
	ev := exec("/home/alice/thinclient_drives/D:/b.sh", 951)
	if !r.Attribute(ev) || ev.SessionID != detector.SessionOf(11) {
		t.Errorf("with DISPLAY=:11: %v", ev.SessionID)
	}
	r, _ = h.resolver(time.Now())
	ev = exec("/home/alice/thinclient_drives/D:/b.sh", 12345) // gone already
	if r.Attribute(ev) || ev.SessionID.Known() {
		t.Errorf("without the program's DISPLAY: %v", ev.SessionID)
	}
}

// TestCache: a flood of starts from one mount costs one lookup per
// cacheTTL.
func TestCache(t *testing.T) {
	h := newHost(t)
	now := time.Date(2024, 5, 1, 11, 0, 0, 0, time.UTC)
	clock := now
	sys := &countingSystem{System: Dir{Root: h.root}}
	r := New(sys, Options{MountNames: []string{"thinclient_drives"}, Now: func() time.Time { return clock }})
	for range 1000 {
		r.Attribute(exec("/home/alice/thinclient_drives/C:/a", 950))
	}
	first := sys.reads.Load()
	if first == 0 || first > 100 {
		t.Fatalf("%d reads for 1000 starts", first)
	}
	clock = now.Add(cacheTTL)
	r.Attribute(exec("/home/alice/thinclient_drives/C:/a", 950))
	if sys.reads.Load() == first {
		t.Error("the cached answer outlived its time")
	}
}

func TestParseSesman(t *testing.T) {
	log := strings.Join([]string{
		// xrdp 0.9 log file.
		"[20211029-01:18:31] [INFO ] Starting session: session_pid 906, display :10.0, width 1024, height 768, bpp 24, client ip ::ffff:192.168.1.188:38410 - socket: 12, user name wi",
		// The variant with the uid and a bare address.
		"[20240501-10:00:00] [INFO ] Starting session: session_pid 37, display :11.0, width 1920, height 1080, bpp 32, client ip ::ffff:172.17.0.1, UID 1000",
		// syslog / journal prefixes.
		"aug 25 09:50:31 pc1 xrdp-sesman[1003]: (1003)(140271766832512)[INFO ] ++ reconnected session: username itaroiu, display :10.0, session_pid 1850, ip 0.0.0.0:44278 - socket: 12",
		"Jul 15 09:10:39 pi-desktop xrdp-sesman[887]: [INFO ] Starting session: session_pid 2302, display :11.0, width 592, height 440, bpp 24, client ip ::ffff:192.168.1.192:60372 - socket: 12, user name pi",
		// A reconnect without an address.
		"[20240501-10:05:00] [INFO ] ++ reconnected session: username bob, display :12.0, session_pid 44",
		// Not session lines, or not at the start of the message.
		"[20240501-10:06:00] [INFO ] AUTHFAIL: user=Starting session: session_pid 1, display :1.0, width 1, height 1, bpp 1, client ip 6.6.6.6, user name x",
		"Starting session: session_pid 1, display :1.0, width 1, height 1, bpp 1, client ip 6.6.6.6, user name noprefix",
		"[20240501-10:07:00] [INFO ] ++ reconnected session: username e, display :13.0, session_pid 45, ip 1.2.3.4\x07",
	}, "\n")
	got := parseSesman([]byte(log), time.UTC)
	want := []string{
		"start 10 906 wi -1 192.168.1.188 2021-10-29T01:18:31Z",
		"start 11 37  1000 172.17.0.1 2024-05-01T10:00:00Z",
		"reconnect 10 1850 itaroiu -1 0.0.0.0 0001-01-01T00:00:00Z",
		"start 11 2302 pi -1 192.168.1.192 0001-01-01T00:00:00Z",
		"reconnect 12 44 bob -1  2024-05-01T10:05:00Z",
	}
	if len(got) != len(want) {
		t.Fatalf("%d lines: %+v", len(got), got)
	}
	for i, l := range got {
		kind := "reconnect"
		if l.start {
			kind = "start"
		}
		if s := fmt.Sprintf("%s %d %d %s %d %s %s", kind, l.display, l.sessionPID, l.user, l.uid, l.addr, l.time.UTC().Format(time.RFC3339)); s != want[i] {
			t.Errorf("line %d: %q, want %q", i, s, want[i])
		}
	}
}

func TestSesmanAddress(t *testing.T) {
	for in, want := range map[string]string{
		"::ffff:192.168.1.188:38410 - socket: 12": "192.168.1.188",
		"0.0.0.0:44278 - socket: 12":              "0.0.0.0",
		"::ffff:172.17.0.1":                       "172.17.0.1",
		"10.1.2.3:5000":                           "10.1.2.3",
		"10.1.2.3":                                "10.1.2.3",
		"fe80::1":                                 "fe80::1",
		"::1:5000":                                "::1:5000", // an IPv6 address, not ::1 port 5000
		"[2001:db8::7]:3389":                      "2001:db8::7",
		"2001:db8::7:3389 - socket: 9":            "2001:db8::7",
		"":                                        "",
	} {
		if got := sesmanAddress(in); got != want {
			t.Errorf("sesmanAddress(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseUtmp(t *testing.T) {
	r := utmpRecord{typ: utmpUserProc, pid: 912, line: "xrdp:10", user: "alice", host: "10.1.2.3", sec: 1714557600}
	b := append(encodeUtmp(r), encodeUtmp(utmpRecord{typ: 8, line: "pts/3"})...)
	got, err := parseUtmp(b, "utmp")
	if err != nil || len(got) != 2 || got[0] != r || got[1].line != "pts/3" {
		t.Fatalf("%+v, %v", got, err)
	}
	got, err = parseUtmp(append(b, 1, 2, 3), "utmp")
	if len(got) != 2 || err == nil || !strings.Contains(err.Error(), "offset 768") {
		t.Errorf("partial record: %d records, %v", len(got), err)
	}
}

// TestChansrvMounts: which mounts count as chansrv's, and which mount
// holds a path. (The parser's own tests are in internal/mountinfo.)
func TestChansrvMounts(t *testing.T) {
	ms, err := mountinfo.Parse(strings.NewReader("61 22 0:52 / /home/a\\040b/thinclient_drives rw - fuse.xrdp-chansrv xrdp-chansrv rw,user_id=1000,group_id=1000\n"+
		"63 22 0:54 / /home/c/thinclient_drives rw - fuse xrdp-chansrv rw,user_id=1001\n"+
		"64 22 0:55 / /home/d/thinclient_drives rw - fuse.bindfs /src rw,user_id=1002\n"+
		"62 22 0:53 / /x rw - ext4 /dev/sda1 rw\n"), "mountinfo")
	if err != nil || len(ms) != 4 || ms[0].Point != "/home/a b/thinclient_drives" || ms[0].UID != 1000 {
		t.Fatalf("%+v, %v", ms, err)
	}
	for i, want := range []bool{true, true, false, false} {
		if chansrv(ms[i]) != want {
			t.Errorf("chansrv(%+v) = %v", ms[i], !want)
		}
	}
	// Stacked on one point: the last listed is on top.
	m, ok := holding([]mountinfo.Mount{{ID: 5, Point: "/a"}, {ID: 9, Point: "/a/b"}, {ID: 7, Point: "/a/b"}}, "/a/b/c")
	if !ok || m.ID != 7 {
		t.Errorf("holding = %+v", m)
	}
	if _, ok := holding(ms, "/home/ab/thinclient_drives/x"); ok {
		t.Errorf("a path beside a mount point is not on it")
	}
}
