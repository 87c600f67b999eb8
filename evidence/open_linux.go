package evidence

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// openExecutable opens the program of a detection: /proc/<pid>/exe when it
// is that program, else the path.
func openExecutable(pid int64, path string) (*os.File, string, error) {
	if pid > 0 {
		if f, from := openProcExe(pid, path); f != nil {
			return f, from, nil
		}
	}
	f, err := openPath(path)
	return f, path, err
}

// openProcExe opens /proc/<pid>/exe, the file the process runs, reached
// even when its path was renamed, unlinked or its mount moved. It is used
// only when it is the program path names: the process may since have
// exec'd another program, and a script's exe is its interpreter. It
// returns nil when it cannot be opened or is another program.
func openProcExe(pid int64, path string) (*os.File, string) {
	exe := "/proc/" + strconv.FormatInt(pid, 10) + "/exe"
	link, err := os.Readlink(exe) // the kernel's d_path: no filesystem call
	if err != nil {
		return nil, ""
	}
	fd, err := unix.Open(exe, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, ""
	}
	st, err := statFD(fd)
	if err != nil || st.kind != "" || !sameProgram(st, link, path) {
		unix.Close(fd)
		return nil, ""
	}
	f, err := fileFromFD(fd, exe)
	if err != nil {
		return nil, ""
	}
	return f, exe + " -> " + link
}

// sameProgram decides whether the process's executable (st, shown by the
// kernel as link) is the file at path:
//   - the link names path (" (deleted)" when unlinked since): yes;
//   - path still leads to a file: yes if it is the same inode;
//   - path leads nowhere (renamed, removed, mount moved): yes if the names
//     end alike, or if the executable lives on the filesystem of the
//     nearest directory above path that still exists. An interpreter or a
//     program exec'd from elsewhere fails both.
func sameProgram(st fileState, link, path string) bool {
	name := strings.TrimSuffix(link, " (deleted)")
	if name == path {
		return true
	}
	var pst unix.Stat_t
	if err := unix.Lstat(path, &pst); err == nil {
		return uint64(pst.Dev) == st.dev && uint64(pst.Ino) == st.ino
	}
	if filepath.Base(name) == filepath.Base(path) {
		return true
	}
	for dir := filepath.Dir(path); dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		var dst unix.Stat_t
		if unix.Stat(dir, &dst) == nil {
			return uint64(dst.Dev) == st.dev
		}
	}
	return false
}

// resolveFlags keeps openat2 from following any symbolic link, /proc's
// magic links included.
const resolveFlags = unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// openPath opens path without following a symbolic link anywhere on it,
// and opens only a regular file: O_PATH first (no open call reaches the
// filesystem or the device: a FIFO or device node is never opened), fstat,
// then the file itself is opened through /proc/self/fd. A symbolic link as
// the last component is reported as such; one on the way (the kernel
// reported a resolved path, so the tree changed since) fails openat2 with
// ELOOP. Where openat2 is missing (Linux before 5.6, a seccomp filter), the
// path is walked one component at a time with O_NOFOLLOW.
func openPath(path string) (*os.File, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	pfd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{
		Flags: unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC, Resolve: resolveFlags,
	})
	switch {
	case errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.E2BIG):
		pfd, err = walk(path, unix.O_PATH, unix.O_PATH)
	case errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV):
		return nil, &notRegularError{path: path, what: "reached through a symbolic link (not followed)"}
	case err != nil:
		err = &fs.PathError{Op: "open", Path: path, Err: err}
	}
	if err != nil {
		return nil, err
	}
	defer unix.Close(pfd)
	st, err := statFD(pfd)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.kind != "" {
		return nil, &notRegularError{path: path, what: st.kind}
	}
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(pfd), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f, err := fileFromFD(fd, path)
	if err != nil {
		return nil, err
	}
	if st2, err := statFile(f); err != nil || st2.dev != st.dev || st2.ino != st.ino {
		f.Close()
		return nil, fmt.Errorf("%s changed while it was opened: not read", path)
	}
	return f, nil
}
