//go:build windows

package wts

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

var (
	wtsapi32                       = windows.NewLazySystemDLL("wtsapi32.dll")
	procWTSQuerySessionInformation = wtsapi32.NewProc("WTSQuerySessionInformationW")
)

// System is the API of this host.
func System() API { return windowsAPI{} }

type windowsAPI struct{}

// Query implements API with three WTSQuerySessionInformationW calls.
func (windowsAPI) Query(session uint32) (Answers, error) {
	var a Answers
	var err error
	if a.SessionInfo, err = query(session, ClassSessionInfo); err != nil {
		return a, err
	}
	if a.ClientName, err = query(session, ClassClientName); err != nil {
		return a, err
	}
	if a.ClientAddress, err = query(session, ClassClientAddress); err != nil {
		return a, err
	}
	return a, nil
}

// query copies one class's answer out of the buffer wtsapi32 allocates,
// and frees it.
func query(session uint32, class uint32) ([]byte, error) {
	if err := procWTSQuerySessionInformation.Find(); err != nil {
		return nil, err
	}
	var buf *byte
	var n uint32
	r, _, err := procWTSQuerySessionInformation.Call(0 /* WTS_CURRENT_SERVER_HANDLE */, uintptr(session), uintptr(class),
		uintptr(unsafe.Pointer(&buf)), uintptr(unsafe.Pointer(&n)))
	if r == 0 {
		return nil, fmt.Errorf("WTSQuerySessionInformationW(%d, class %d): %w", session, class, err)
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(buf)))
	if buf == nil || n == 0 {
		return nil, nil
	}
	if n > 1<<16 {
		return nil, fmt.Errorf("WTSQuerySessionInformationW(%d, class %d): %d bytes", session, class, n)
	}
	return append([]byte(nil), unsafe.Slice(buf, n)...), nil
}
