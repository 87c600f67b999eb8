//go:build unix

package main

import "syscall"

// restrictUmask makes the files and sockets the extension creates private
// to its user. The one that matters is the extension's own Thrift socket
// (osquery's socket path plus ".<uuid>"): osquery-go creates it with the
// process umask, and osqueryd may run with a permissive one (0 under some
// service managers), which would let any local user connect, read every
// detection (other users' command lines) and call "shutdown". Connecting
// to a unix socket needs write permission on it, so 0600 leaves it to root.
func restrictUmask() { syscall.Umask(0o077) }
