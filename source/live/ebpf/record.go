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
	"slices"
	"strings"
)

// Sizes and flags shared with exec.bpf.c; change both together.
const (
	headerSize = 88   // fixed part of struct event
	pathBuf    = 4096 // PATH_BUF
	nameMax    = 256  // NAME_MAX
	argvMax    = 1024 // ARGV_MAX
	maxData    = pathBuf + nameMax + argvMax
)

// Flags set by the BPF program on a record.
const (
	FlagPathTruncated = 1 << iota // deeper than 64 components or longer than 4 KiB
	FlagArgvTruncated             // argv longer than 1 KiB
	FlagNoFile                    // the exec had no file (never seen in practice)
)

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
	// kernel opened, across mounts, up to the mount namespace root.
	Path string
	// Argv is the new program's arguments, at most argvMax bytes of them.
	Argv []string
}

// CommandLine joins Argv with spaces, as ps does.
func (r *Record) CommandLine() string { return strings.Join(r.Argv, " ") }

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
		FSType: cstring(b[40:72]),
		Comm:   cstring(b[72:88]),
	}
	pathLen := int(le.Uint32(b[24:]))
	argvLen := int(le.Uint32(b[28:]))
	if pathLen > pathBuf+nameMax || argvLen > argvMax {
		return Record{}, fmt.Errorf("record lengths out of range: path %d, argv %d", pathLen, argvLen)
	}
	data := b[headerSize:]
	if len(data) < pathLen+argvLen {
		return Record{}, fmt.Errorf("record truncated: %d data bytes, header says %d+%d", len(data), pathLen, argvLen)
	}
	r.Path = joinReversed(data[:pathLen])
	r.Argv = splitArgv(data[pathLen : pathLen+argvLen])
	return r, nil
}

// joinReversed turns "leaf\0dir\0top\0" into "/top/dir/leaf".
func joinReversed(b []byte) string {
	if len(b) == 0 {
		return "/"
	}
	parts := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	slices.Reverse(parts)
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
