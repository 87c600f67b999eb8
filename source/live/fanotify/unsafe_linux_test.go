//go:build linux

package fanotify

import "unsafe"

func unsafePtr(p *uintptr) unsafe.Pointer { return unsafe.Pointer(p) }
