package evidence

import (
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// openExecutable opens the program at the NT, UNC or drive path the
// watcher reported, through the Win32 path WindowsPath gives, in its
// \\?\ form so that no name is normalized. A final reparse point
// (symbolic link, junction) is opened as itself (FILE_FLAG_OPEN_REPARSE_POINT)
// and then refused; only a disk file that is neither a directory nor a
// reparse point is read. Windows has no /proc/<pid>/exe, so pid is not
// used. Reparse points in directories above the file are followed: Win32
// has no way to refuse them in one call (see docs/evidence.md).
func openExecutable(pid int64, path string) (*os.File, string, error) {
	p := WindowsPath(path)
	if p == "" {
		return nil, "", fmt.Errorf("%q is not a path evidence can open: not read", path)
	}
	long := extendedPath(p)
	u16, err := windows.UTF16PtrFromString(long)
	if err != nil {
		return nil, "", &fs.PathError{Op: "open", Path: p, Err: err}
	}
	h, err := windows.CreateFile(u16, windows.GENERIC_READ,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_OPEN_REPARSE_POINT|windows.FILE_FLAG_SEQUENTIAL_SCAN, 0)
	if err != nil {
		return nil, "", &fs.PathError{Op: "open", Path: p, Err: err}
	}
	st, err := statHandle(h)
	if err != nil {
		windows.CloseHandle(h)
		return nil, "", &fs.PathError{Op: "stat", Path: p, Err: err}
	}
	if st.kind != "" {
		windows.CloseHandle(h)
		return nil, "", &notRegularError{path: p, what: st.kind}
	}
	return os.NewFile(uintptr(h), p), p, nil
}

// extendedPath turns a Win32 path into its \\?\ form: no length limit, no
// normalization of trailing dots and spaces or of device names.
func extendedPath(p string) string {
	switch {
	case len(p) >= 4 && p[:4] == `\\?\`:
		return p
	case len(p) >= 2 && p[:2] == `\\`:
		return `\\?\UNC\` + p[2:]
	}
	return `\\?\` + p
}

func statFile(f *os.File) (fileState, error) { return statHandle(windows.Handle(f.Fd())) }

// statHandle reads the handle's state; kind is set for anything but a
// plain disk file.
func statHandle(h windows.Handle) (fileState, error) {
	t, err := windows.GetFileType(h)
	if err != nil {
		return fileState{}, err
	}
	var st fileState
	switch t {
	case windows.FILE_TYPE_DISK:
	case windows.FILE_TYPE_PIPE:
		st.kind = "a pipe"
	case windows.FILE_TYPE_CHAR:
		st.kind = "a character device"
	default:
		st.kind = fmt.Sprintf("of file type %d", t)
	}
	if st.kind != "" {
		return st, nil
	}
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &info); err != nil {
		return fileState{}, err
	}
	switch {
	case info.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0:
		st.kind = "a reparse point (symbolic link or junction; not followed)"
	case info.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY != 0:
		st.kind = "a directory"
	case info.FileAttributes&windows.FILE_ATTRIBUTE_DEVICE != 0:
		st.kind = "a device"
	}
	st.size = int64(info.FileSizeHigh)<<32 | int64(info.FileSizeLow)
	st.mod = info.LastWriteTime.Nanoseconds()
	st.change = st.mod
	st.dev = uint64(info.VolumeSerialNumber)
	st.ino = uint64(info.FileIndexHigh)<<32 | uint64(info.FileIndexLow)
	return st, nil
}

// syncDir: Windows cannot flush a directory handle; NTFS journals the
// rename.
func syncDir(string) error { return nil }

// openAsOwner: only Linux reads through the owner of a mount.
func openAsOwner(_ *request, err error) (source, error) { return nil, err }
