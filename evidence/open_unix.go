//go:build unix

package evidence

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// checkPath refuses a path that is not absolute and clean: the kernel
// reports resolved paths, so ".." or "//" in one means it was made up or
// cut short.
func checkPath(path string) error {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path || strings.IndexByte(path, 0) >= 0 {
		return fmt.Errorf("%q is not a clean absolute path: not opened", path)
	}
	return nil
}

// walk opens path from / one component at a time, never following a
// symbolic link: dirFlags open each directory, lastFlags the final
// component (both get O_NOFOLLOW|O_CLOEXEC). It is the fallback where
// openat2 is missing, and the only way on Unix systems other than Linux.
func walk(path string, dirFlags, lastFlags int) (int, error) {
	if err := checkPath(path); err != nil {
		return -1, err
	}
	dirfd, err := unix.Open("/", dirFlags|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: "/", Err: err}
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	dir := ""
	for _, name := range parts[:len(parts)-1] {
		dir += "/" + name
		fd, err := unix.Openat(dirfd, name, dirFlags|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(dirfd)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return -1, &notRegularError{path: path, what: "reached through " + dir + ", a symbolic link or not a directory (not followed)"}
		}
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: dir, Err: err}
		}
		dirfd = fd
	}
	fd, err := unix.Openat(dirfd, parts[len(parts)-1], lastFlags|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	unix.Close(dirfd)
	if errors.Is(err, unix.ELOOP) {
		return -1, &notRegularError{path: path, what: "a symbolic link (not followed)"}
	}
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return fd, nil
}

// statFD reads fd's state.
func statFD(fd int) (fileState, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fileState{}, err
	}
	return fileState{
		size: st.Size, mod: st.Mtim.Nano(), change: st.Ctim.Nano(),
		kind: kindOf(uint32(st.Mode)), dev: uint64(st.Dev), ino: uint64(st.Ino),
	}, nil
}

func statFile(f *os.File) (fileState, error) { return statFD(int(f.Fd())) }

// kindOf names a file type that is not a regular file; "" for one.
func kindOf(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return ""
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFLNK:
		return "a symbolic link (not followed)"
	}
	return fmt.Sprintf("of type %#o", mode&unix.S_IFMT)
}

// fileFromFD checks that fd is a regular file, makes it blocking (a FUSE
// daemon may answer a non-blocking read with EAGAIN), and wraps it.
func fileFromFD(fd int, name string) (*os.File, error) {
	st, err := statFD(fd)
	if err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	if st.kind != "" {
		unix.Close(fd)
		return nil, &notRegularError{path: name, what: st.kind}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "fcntl", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}
