//go:build unix

package file

import "syscall"

// mkfifo makes a named pipe, an entry a directory walk must report.
func mkfifo(path string) (bool, error) { return true, syscall.Mkfifo(path, 0o644) }
