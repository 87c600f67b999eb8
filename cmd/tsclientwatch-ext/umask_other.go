//go:build !unix

package main

// restrictUmask does nothing where there is no umask. On Windows the
// extension's named pipe gets the default pipe security (full control for
// SYSTEM, Administrators and the creator; read-only for Everyone, which
// cannot send a call).
func restrictUmask() {}
