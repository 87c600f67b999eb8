//go:build !unix

package file

// mkfifo reports that named pipes cannot be made in a directory here.
func mkfifo(string) (bool, error) { return false, nil }
