//go:build unix

package file

import "syscall"

// openNonblock makes opening a FIFO return at once instead of waiting for
// a writer; for regular files it changes nothing.
const openNonblock = syscall.O_NONBLOCK
