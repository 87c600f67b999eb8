package evidence

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/tsclientwatch/tsclientwatch/internal/mountinfo"
)

// A FUSE mount without allow_other (xrdp's chansrv mounts client drives
// so) refuses everyone but its owner, root included: opening the program,
// even through /proc/<pid>/exe, fails with EACCES, and so would fstat on a
// descriptor passed in. So the whole read is done by a short-lived copy of
// this binary running as the mount's owner (uid and gid from mountinfo's
// user_id= and group_id=, no supplementary groups, no capabilities), which
// opens the program with the same rules (openExecutable), reports its
// state, streams at most max_file_bytes+1 bytes on a pipe and its state
// after the read. Not a thread of this process switched to the owner's
// ids: the owner may signal such a thread, and SIGSTOP or SIGKILL sent to
// one thread stops or kills the whole process.
//
// The owner controls the helper (same uid: they may trace it) as they
// control the FUSE daemon: what it says is treated as what the daemon
// says, read within the same bounds (a 64 KiB line of state, max+1 bytes
// of content), and when the request is settled from outside the helper is
// killed and its pipes closed, so an abandoned helper read never stays
// stuck in this process.

// readerEnv, set to "1", makes a process started from any binary linking
// this package the owner reader instead of itself.
const readerEnv = "TSCLIENTWATCH_EVIDENCE_READER"

func init() {
	if os.Getenv(readerEnv) != "1" {
		return
	}
	os.Exit(ownerReaderMain())
}

// helperState is one line of the helper's state pipe.
type helperState struct {
	From       string `json:"from,omitempty"`
	Err        string `json:"err,omitempty"`
	NotRegular bool   `json:"not_regular,omitempty"`
	Size       int64  `json:"size"`
	Mod        int64  `json:"mod"`
	Change     int64  `json:"change"`
	Kind       string `json:"kind,omitempty"`
	Dev        uint64 `json:"dev"`
	Ino        uint64 `json:"ino"`
}

func (h helperState) fileState() fileState {
	return fileState{size: h.Size, mod: h.Mod, change: h.Change, kind: h.Kind, dev: h.Dev, ino: h.Ino}
}

func stateLine(st fileState) helperState {
	return helperState{Size: st.size, Mod: st.mod, Change: st.change, Kind: st.kind, Dev: st.dev, Ino: st.ino}
}

// ownerReaderMain is the helper: descriptor 3 takes state lines, 1 the
// content. The program is named by the environment.
func ownerReaderMain() int {
	meta := json.NewEncoder(os.NewFile(3, "state"))
	pid, _ := strconv.ParseInt(os.Getenv(readerEnv+"_PID"), 10, 64)
	maxBytes, err := strconv.ParseInt(os.Getenv(readerEnv+"_MAX"), 10, 64)
	if err != nil || maxBytes < 0 {
		meta.Encode(helperState{Err: "no byte limit given"})
		return 2
	}
	f, from, err := openExecutable(pid, os.Getenv(readerEnv+"_PATH"))
	if err != nil {
		var nr *notRegularError
		meta.Encode(helperState{Err: err.Error(), NotRegular: errors.As(err, &nr)})
		return 0
	}
	before, err := statFile(f)
	if err != nil {
		meta.Encode(helperState{Err: fmt.Sprintf("stat %s: %v", from, err)})
		return 0
	}
	h := stateLine(before)
	h.From = from
	meta.Encode(h)
	if before.kind != "" || before.size > maxBytes {
		return 0
	}
	buf := make([]byte, 256<<10)
	_, err = io.CopyBuffer(os.Stdout, io.LimitReader(f, maxBytes+1), buf)
	os.Stdout.Close()
	if err != nil {
		meta.Encode(helperState{Err: err.Error()})
		return 0
	}
	after, err := statFile(f)
	if err != nil {
		meta.Encode(helperState{Err: fmt.Sprintf("stat %s: %v", from, err)})
		return 0
	}
	meta.Encode(stateLine(after))
	return 0
}

// fuseOwner finds the FUSE mount holding path in this process's
// mountinfo and returns its owner, when it has one other than root.
func fuseOwner(path string) (uid, gid int, point string, ok bool) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return 0, 0, "", false
	}
	defer f.Close()
	mounts, err := mountinfo.Parse(f, "/proc/self/mountinfo")
	if err != nil {
		return 0, 0, "", false
	}
	best := -1
	for i, m := range mounts {
		if m.Point == path || strings.HasPrefix(path, strings.TrimSuffix(m.Point, "/")+"/") {
			if best < 0 || len(m.Point) >= len(mounts[best].Point) { // the last of equals is on top
				best = i
			}
		}
	}
	if best < 0 {
		return 0, 0, "", false
	}
	m := mounts[best]
	if (m.FSType != "fuse" && !strings.HasPrefix(m.FSType, "fuse.")) || m.UID <= 0 || m.GID < 0 {
		return 0, 0, "", false
	}
	return m.UID, m.GID, m.Point, true
}

// openAsOwner reads r's program through the owner reader when this
// process (root) was refused (openErr is EACCES) by a FUSE mount that has
// an owner. Otherwise it returns openErr.
func openAsOwner(r *request, openErr error) (source, error) {
	if !errors.Is(openErr, fs.ErrPermission) || os.Geteuid() != 0 {
		return nil, openErr
	}
	path := r.Path
	uid, gid, point, ok := fuseOwner(path)
	if !ok && r.PID > 0 {
		// The path may be gone while the process runs: its exe names
		// where it lives now.
		if link, err := os.Readlink("/proc/" + strconv.FormatInt(r.PID, 10) + "/exe"); err == nil {
			uid, gid, point, ok = fuseOwner(strings.TrimSuffix(link, " (deleted)"))
		}
	}
	if !ok || checkPath(path) != nil {
		return nil, openErr
	}
	s, err := startOwnerReader(r, uid, gid)
	var nr *notRegularError
	switch {
	case errors.As(err, &nr):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%v (read as uid %d, the owner of %s, which root may not enter)", err, uid, point)
	}
	return s, nil
}

// ownerReader is the parent's side of a running helper.
type ownerReader struct {
	cmd    *exec.Cmd
	data   *os.File // content
	meta   *os.File // state lines
	lines  *bufio.Reader
	name   string
	uid    int
	stats  int // stat calls so far
	before fileState

	stop     chan struct{} // closed by Close: the abort watcher ends
	killOnce sync.Once
}

// maxStateLine bounds one line of state from the helper.
const maxStateLine = 64 << 10

func startOwnerReader(r *request, uid, gid int) (_ *ownerReader, err error) {
	dataR, dataW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	metaR, metaW, err := os.Pipe()
	if err != nil {
		dataR.Close()
		dataW.Close()
		return nil, err
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{"tsclientwatch-evidence-reader"}
	cmd.Env = []string{readerEnv + "=1", readerEnv + "_PID=" + strconv.FormatInt(r.PID, 10),
		readerEnv + "_PATH=" + r.Path, readerEnv + "_MAX=" + strconv.FormatInt(r.maxBytes, 10)}
	cmd.Dir = "/"
	cmd.Stdout = dataW
	cmd.ExtraFiles = []*os.File{metaW}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}},
		Pdeathsig:  syscall.SIGKILL,
	}
	err = cmd.Start()
	dataW.Close()
	metaW.Close()
	if err != nil {
		dataR.Close()
		metaR.Close()
		return nil, fmt.Errorf("start the reader: %w", err)
	}
	o := &ownerReader{cmd: cmd, data: dataR, meta: metaR, lines: bufio.NewReaderSize(metaR, 4096), uid: uid, stop: make(chan struct{})}
	go func() {
		select {
		case <-r.abort:
			o.kill()
		case <-o.stop:
		}
	}()
	h, err := o.readState()
	if err == nil && h.Err != "" {
		if h.NotRegular {
			err = &notRegularError{msg: h.Err + fmt.Sprintf(" (as uid %d sees it)", uid)}
		} else {
			err = errors.New(h.Err)
		}
	}
	if err != nil {
		o.Close()
		return nil, err
	}
	o.name = fmt.Sprintf("%s (read as uid %d)", h.From, uid)
	o.before = h.fileState()
	return o, nil
}

func (o *ownerReader) kill() {
	o.killOnce.Do(func() {
		o.cmd.Process.Kill()
		// A helper the owner traced may have handed its pipe ends on:
		// closing ours ends any read waiting on them.
		o.data.Close()
		o.meta.Close()
	})
}

// readState reads one bounded line of state.
func (o *ownerReader) readState() (helperState, error) {
	var line []byte
	for {
		part, isPrefix, err := o.lines.ReadLine()
		line = append(line, part...)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return helperState{}, errors.New("the reader ended without saying why")
			}
			return helperState{}, fmt.Errorf("the reader's state: %w", err)
		}
		if len(line) > maxStateLine {
			return helperState{}, errors.New("the reader's state line is too long")
		}
		if !isPrefix {
			break
		}
	}
	var h helperState
	if err := json.Unmarshal(line, &h); err != nil {
		return helperState{}, fmt.Errorf("the reader's state: %w", err)
	}
	return h, nil
}

func (o *ownerReader) Read(p []byte) (int, error) { return o.data.Read(p) }

func (o *ownerReader) from() string { return o.name }

// stat returns the state before reading on the first call, and the one the
// helper saw after reading on the second.
func (o *ownerReader) stat() (fileState, error) {
	o.stats++
	if o.stats == 1 {
		return o.before, nil
	}
	h, err := o.readState()
	if err != nil {
		return fileState{}, err
	}
	if h.Err != "" {
		return fileState{}, errors.New(h.Err)
	}
	return h.fileState(), nil
}

// Close ends the helper, if still running, and reaps it.
func (o *ownerReader) Close() error {
	close(o.stop)
	o.kill()
	o.cmd.Wait()
	return nil
}
