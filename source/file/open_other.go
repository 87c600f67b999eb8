//go:build !unix

package file

// openNonblock is not needed where opening a file never waits for a
// writer (Windows named pipes live outside the file system).
const openNonblock = 0
