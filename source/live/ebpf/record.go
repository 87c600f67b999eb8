// Package ebpf is the Linux primary live watcher: a BPF program on the
// sched_process_exec tracepoint reports every successful exec through a ring
// buffer, with the executable's path as the kernel resolved it.
//
// The record layout and its decoding are portable (record.go); loading and
// attaching is Linux-only (watcher_linux.go).
package ebpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// Sizes and flags shared with exec.bpf.c; change both together.
const (
	headerSize = 96   // fixed part of struct event
	pathBuf    = 4096 // PATH_BUF: bytes one walked path may use
	leafBuf    = 2816 // LEAF_BUF: what a cut path keeps of its leaf end
	nameMax    = 256  // NAME_MAX
	fnameMax   = 4096 // FNAME_MAX
	argvMax    = 1024 // ARGV_MAX
	walkMax    = 2*pathBuf + nameMax
	maxData    = walkMax + fnameMax + argvMax
)

// Flags set by the BPF program on a record.
const (
	// FlagPathTruncated: the path did not fit in 4 KiB. The walk kept
	// its leaf end (up to 2816 bytes), then an empty component where it
	// skipped, the component just below the root of the mount where it
	// skipped (the client drive on an xrdp mount) and the mount point's
	// path; a mount point path so long that even that did not fit loses
	// its start. Depth alone does not cut a path: it is bounded by bytes.
	FlagPathTruncated     = 1 << iota
	FlagArgvTruncated     // argv longer than 1 KiB
	FlagNoFile            // the exec had no file (never seen in practice)
	FlagInterp            // an interpreter took over: a #! script or binfmt_misc
	FlagCwdTruncated      // the working directory was cut like a long Path
	FlagNoCwd             // the task had no working directory to walk
	FlagFilenameTruncated // the execve path filled FNAME_MAX
	FlagScript            // Path and FSType are the #! script's own (found on the task's deferred-release queue)
)

// gap stands for the components a cut path left out.
const gap = "…"

// Record is one exec as the BPF program reported it.
type Record struct {
	BootNS uint64 // CLOCK_BOOTTIME nanoseconds at the exec
	PID    uint32 // thread-group id of the new program
	PPID   uint32 // its real parent's thread-group id
	UID    uint32 // real uid
	Flags  uint32
	// FSType is the executable's filesystem type as mountinfo shows it,
	// with the FUSE subtype ("ext4", "fuse.xrdp-chansrv", "fuse.bindfs").
	FSType string
	Comm   string // the new task's comm (the file name, 15 bytes at most)
	// Path is the executable's absolute path, walked from the file the
	// kernel opened, across mounts, up to the mount namespace root; "…"
	// marks where a path too long to keep was cut (FlagPathTruncated).
	// For a #! script it is the script itself when the program found it
	// (FlagScript), else the interpreter (/usr/bin/dash): the kernel has
	// swapped the script's file for the interpreter's by the tracepoint.
	Path string
	// Cwd is the working directory, walked like Path; empty when the
	// task had none (FlagNoCwd).
	Cwd string
	// Filename is the path string execve was given, as written: it may be
	// relative ("./run.sh") or name a descriptor ("/dev/fd/3" for
	// fexecve, "/dev/fd/3/run.sh" for execveat with a directory fd).
	Filename string
	// Argv is the new program's arguments, at most argvMax bytes of them.
	Argv []string
}

// CommandLine joins Argv with spaces, as ps does.
func (r *Record) CommandLine() string { return strings.Join(r.Argv, " ") }

// Interpreted reports whether an interpreter ran in place of the file
// execve was given (a #! script, or a binfmt_misc handler).
func (r *Record) Interpreted() bool { return r.Flags&FlagInterp != 0 }

// Script returns the absolute path of the script an interpreter was started
// for. With FlagScript that is Path, walked from the script's own file as
// the kernel opened it (symlinks resolved, descriptors named). Without it
// (the raw_tracepoint fallback, /proc/kallsyms hidden, a kernel thread's exec) it is
// Filename when absolute, else Filename joined to Cwd and cleaned; ok is
// then false when the exec was not interpreted or the script cannot be
// named from the record: the path names a descriptor (/dev/fd/N, whose
// target the record does not carry), the path or cwd was cut short, or a
// relative path came without a cwd. That join is lexical: a symlink in the
// execve string (~/c -> ~/thinclient_drives/C:) is not resolved, so
// ~/c/x.sh is reported as such and is no detection. Cwd itself has no
// symlinks.
func (r *Record) Script() (script string, ok bool) {
	if r.Flags&FlagScript != 0 {
		return r.Path, true
	}
	if !r.Interpreted() || r.Filename == "" || r.Flags&FlagFilenameTruncated != 0 {
		return "", false
	}
	name := r.Filename
	if !path.IsAbs(name) {
		if r.Cwd == "" || r.Flags&(FlagCwdTruncated|FlagNoCwd) != 0 {
			return "", false
		}
		name = path.Join(r.Cwd, name)
	}
	name = path.Clean(name)
	if name == "/dev/fd" || strings.HasPrefix(name, "/dev/fd/") || strings.HasPrefix(name, "/proc/") {
		return "", false
	}
	return name, true
}

var errShort = errors.New("record shorter than its header")

// Decode parses one ring buffer sample. b may be reused by the caller after
// Decode returns: every string in the result is copied out of it.
func Decode(b []byte) (Record, error) {
	if len(b) < headerSize {
		return Record{}, fmt.Errorf("%w: %d bytes, want at least %d", errShort, len(b), headerSize)
	}
	le := binary.LittleEndian
	r := Record{
		BootNS: le.Uint64(b[0:]),
		PID:    le.Uint32(b[8:]),
		PPID:   le.Uint32(b[12:]),
		UID:    le.Uint32(b[16:]),
		Flags:  le.Uint32(b[20:]),
		FSType: cstring(b[48:80]),
		Comm:   cstring(b[80:96]),
	}
	pathLen := int(le.Uint32(b[24:]))
	argvLen := int(le.Uint32(b[28:]))
	cwdLen := int(le.Uint32(b[36:]))
	fileLen := int(le.Uint32(b[40:]))
	if pathLen > pathBuf+nameMax || pathLen+cwdLen > walkMax || fileLen > fnameMax || argvLen > argvMax {
		return Record{}, fmt.Errorf("record lengths out of range: path %d, cwd %d, filename %d, argv %d", pathLen, cwdLen, fileLen, argvLen)
	}
	data := b[headerSize:]
	if want := pathLen + cwdLen + fileLen + argvLen; len(data) < want {
		return Record{}, fmt.Errorf("record truncated: %d data bytes, header says %d+%d+%d+%d", len(data), pathLen, cwdLen, fileLen, argvLen)
	}
	r.Path = joinReversed(data[:pathLen])
	data = data[pathLen:]
	if r.Flags&FlagNoCwd == 0 {
		r.Cwd = joinReversed(data[:cwdLen])
	}
	data = data[cwdLen:]
	r.Filename = cstring(data[:fileLen])
	r.Argv = splitArgv(data[fileLen : fileLen+argvLen])
	return r, nil
}

// joinReversed turns "leaf\0dir\0top\0" into "/top/dir/leaf", and the
// empty component a cut path carries into "…".
func joinReversed(b []byte) string {
	if len(b) == 0 {
		return "/"
	}
	parts := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	slices.Reverse(parts)
	for i, p := range parts {
		if p == "" {
			parts[i] = gap
		}
	}
	return "/" + strings.Join(parts, "/")
}

// splitArgv splits the NUL-separated argument area. The last argument may be
// cut short by the size bound, in which case it has no terminating NUL.
func splitArgv(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	s := strings.TrimSuffix(string(b), "\x00")
	return strings.Split(s, "\x00")
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// fillEvent sets the fields of ev that come from r alone. A script is
// reported by its own path, as fanotify sees it and as the rule needs it
// (the rule matches the executable); the interpreter stays visible in the
// command line, which the kernel starts with the #! line's interpreter and
// its argument. Anything else keeps the kernel-resolved path.
func fillEvent(r *Record, ev *detector.Event) {
	ev.PID = int64(r.PID)
	ev.ParentPID = int64(r.PPID)
	ev.Executable = r.Path
	ev.FSType = r.FSType
	ev.PathTruncated = r.Flags&FlagPathTruncated != 0
	if s, ok := r.Script(); ok && r.Flags&FlagScript == 0 {
		// Named from the execve path: FSType is the interpreter's, and
		// the script's is unknown.
		ev.Executable = s
		ev.FSType = ""
		ev.PathTruncated = false
	}
	ev.CommandLine = r.CommandLine()
	ev.WorkingDirectory = r.Cwd
}
