// Package safefile opens the files whose contents decide what runs with
// the program's privileges, the configuration file and a plugin binary,
// and refuses one that anyone but an administrator or the running user
// could have changed: the file itself, or any directory on its path (where
// it could be renamed away and replaced).
//
// Checks are made on the open descriptor (Unix) or handle (Windows) of the
// file that is then read, so what was checked is what is read.
//
//   - Unix: every directory from / down is opened relative to the one
//     before with O_NOFOLLOW and checked by fstat: owned by root or this
//     process's user, and not writable by group or others unless sticky
//     (/tmp: only an entry's owner may rename or delete it there). The file
//     is opened the same way with O_NONBLOCK (a FIFO cannot stall the open),
//     and must be a regular file owned by root or this user and not
//     writable by group or others.
//   - Windows: the file's owner and DACL are read from its handle, those of
//     every directory of its final path (links resolved) by name; see
//     Checker for the rule.
package safefile

import "os"

// Open opens path for reading after the checks above, and returns the open
// file and path with every symbolic link resolved. An error names the file
// or directory at fault and says why and what to do; a missing file keeps
// its fs.ErrNotExist identity.
func Open(path string) (f *os.File, real string, err error) {
	return open(path)
}
