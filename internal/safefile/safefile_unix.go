//go:build unix

package safefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func open(path string) (*os.File, string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		// Name the file asked for, not the first component missing
		// (EvalSymlinks says "lstat /etc/x" for /etc/x/config.yaml).
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, "", &fs.PathError{Op: "open", Path: path, Err: err} // keeps ErrNotExist
	}
	euid := os.Geteuid()
	dirfd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", &fs.PathError{Op: "open", Path: "/", Err: err}
	}
	defer func() { unix.Close(dirfd) }()
	if err := checkDir(dirfd, "/", real, euid); err != nil {
		return nil, "", err
	}
	parts := strings.Split(strings.TrimPrefix(real, "/"), "/")
	dir := "/"
	for _, name := range parts[:len(parts)-1] {
		dir = filepath.Join(dir, name)
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, "", changed(real, dir, err)
		}
		unix.Close(dirfd)
		dirfd = fd
		if err := checkDir(dirfd, dir, real, euid); err != nil {
			return nil, "", err
		}
	}
	fd, err := unix.Openat(dirfd, parts[len(parts)-1], unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", changed(real, real, err)
	}
	f := os.NewFile(uintptr(fd), real)
	if err := checkFile(f, real, euid); err != nil {
		f.Close()
		return nil, "", err
	}
	return f, real, nil
}

// changed explains a failed open of an entry that EvalSymlinks had just
// found: it was removed, or replaced by a symbolic link.
func changed(real, entry string, err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return fmt.Errorf("%s changed while it was being checked (%s is now a symbolic link or not a directory); refusing it", real, entry)
	}
	return &fs.PathError{Op: "open", Path: entry, Err: err}
}

func stat(fd int) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstat(fd, &st)
	return st, err
}

func trusted(uid uint32, euid int) bool { return uid == 0 || int(uid) == euid }

// checkDir refuses a directory on the path of file that someone other
// than root or this user could change: its owner, or anyone else when it
// is writable by group or others without the sticky bit.
func checkDir(fd int, dir, file string, euid int) error {
	st, err := stat(fd)
	if err != nil {
		return &fs.PathError{Op: "stat", Path: dir, Err: err}
	}
	if !trusted(st.Uid, euid) {
		return fmt.Errorf("directory %s is owned by uid %d, neither root nor this process's user (uid %d), who could replace %s in it (want the directory owned by root)", dir, st.Uid, euid, file)
	}
	if st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0 {
		return fmt.Errorf("directory %s is writable by group or others without the sticky bit (mode %s), so %s could be replaced by anyone who can write it (want chmod go-w %s)", dir, fileMode(uint32(st.Mode)), file, dir)
	}
	return nil
}

// checkFile refuses anything but a regular file owned by root or this user
// and not writable by group or others.
func checkFile(f *os.File, path string, euid int) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (%s) (want a regular file)", path, fi.Mode().Type())
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && !trusted(st.Uid, euid) {
		return fmt.Errorf("%s is owned by uid %d, neither root nor this process's user (uid %d), who could change it (want a file owned by root or uid %d)", path, st.Uid, euid, euid)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %04o), who could change it (want chmod go-w %s)", path, fi.Mode().Perm(), path)
	}
	return nil
}

// fileMode renders a stat mode the way os.FileMode does ("dtrwxrwxrwx").
func fileMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	if m&unix.S_IFMT == unix.S_IFDIR {
		mode |= os.ModeDir
	}
	if m&unix.S_ISVTX != 0 {
		mode |= os.ModeSticky
	}
	return mode
}
