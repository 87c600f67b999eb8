//go:build windows

package eventlog

import (
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// This file is the thin layer over wevtapi, kernel32 and advapi32 behind
// API: each method is one or two calls, with no decisions of its own.
// Nothing here has run on Windows yet (no Windows host or Wine where it is
// built); it is compiled and vetted for windows/amd64, arm64 and 386 in CI,
// and the lifecycle around it is tested with a fake (watcher_test.go).

var (
	wevtapi               = windows.NewLazySystemDLL("wevtapi.dll")
	procSubscribe         = wevtapi.NewProc("EvtSubscribe")
	procQuery             = wevtapi.NewProc("EvtQuery")
	procNext              = wevtapi.NewProc("EvtNext")
	procRender            = wevtapi.NewProc("EvtRender")
	procClose             = wevtapi.NewProc("EvtClose")
	procCreateBookmark    = wevtapi.NewProc("EvtCreateBookmark")
	advapi32              = windows.NewLazySystemDLL("advapi32.dll")
	procAuditQuerySystem  = advapi32.NewProc("AuditQuerySystemPolicy")
	procAuditFree         = advapi32.NewProc("AuditFree")
	processCreationGUID   = mustGUID(ProcessCreationSubcategory)
	errNoRecordIDRendered = errors.New("newest record has no EventRecordID")
)

const (
	evtSubscribeToFutureEvents     = 1
	evtSubscribeStartAfterBookmark = 3
	evtQueryChannelPath            = 0x1
	evtQueryReverseDirection       = 0x200
	evtRenderEventXML              = 1
	policyAuditEventSuccess        = 0x1
	newestTimeoutMillis            = 5000
)

// auditPolicyInformation is AUDIT_POLICY_INFORMATION (ntsecapi.h).
type auditPolicyInformation struct {
	AuditSubCategoryGUID windows.GUID
	AuditingInformation  uint32
	AuditCategoryGUID    windows.GUID
}

// Layout guards (the same on every architecture: 4-byte fields only).
var (
	_ [36]byte = [unsafe.Sizeof(auditPolicyInformation{})]byte{}
	_ [16]byte = [unsafe.Offsetof(auditPolicyInformation{}.AuditingInformation)]byte{}
)

func mustGUID(s string) windows.GUID {
	g, err := windows.GUIDFromString(s)
	if err != nil {
		panic(err)
	}
	return g
}

// Open subscribes on this host; see New. It needs Administrator, or Event
// Log Readers for Security.
func Open(opts Options) (*Watcher, error) {
	api, err := newWindowsAPI()
	if err != nil {
		return nil, err
	}
	return New(api, opts)
}

// windowsAPI is API over the real calls.
type windowsAPI struct {
	stop windows.Handle // manual reset: once set by Wake, every Wait returns

	mu      sync.Mutex
	signals map[Handle]windows.Handle // subscription -> its auto-reset signal
}

func newWindowsAPI() (*windowsAPI, error) {
	stop, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("eventlog: CreateEvent: %w", err)
	}
	return &windowsAPI{stop: stop, signals: map[Handle]windows.Handle{}}, nil
}

func utf16Ptr(s string) (*uint16, error) { return windows.UTF16PtrFromString(s) }

func (a *windowsAPI) Newest(channel string) (uint64, bool, error) {
	ch, err := utf16Ptr(channel)
	if err != nil {
		return 0, false, err
	}
	q, _, e := procQuery.Call(0, uintptr(unsafe.Pointer(ch)), 0, evtQueryChannelPath|evtQueryReverseDirection)
	if q == 0 {
		return 0, false, e
	}
	defer procClose.Call(q)
	var h uintptr
	var n uint32
	r, _, e := procNext.Call(q, 1, uintptr(unsafe.Pointer(&h)), newestTimeoutMillis, 0, uintptr(unsafe.Pointer(&n)))
	if r == 0 || n == 0 {
		if errors.Is(e, windows.ERROR_NO_MORE_ITEMS) {
			return 0, false, nil
		}
		return 0, false, e
	}
	defer procClose.Call(h)
	x, err := a.Render(Handle(h))
	if err != nil {
		return 0, false, err
	}
	id := recordIDFromXML(x)
	if id == 0 {
		return 0, false, errNoRecordIDRendered
	}
	return id, true, nil
}

func (a *windowsAPI) Subscribe(channel, query string, after uint64) (Handle, error) {
	ch, err := utf16Ptr(channel)
	if err != nil {
		return 0, err
	}
	q, err := utf16Ptr(query)
	if err != nil {
		return 0, err
	}
	// Auto reset and initially set: the first Wait reads what is there.
	sig, err := windows.CreateEvent(nil, 0, 1, nil)
	if err != nil {
		return 0, err
	}
	var bookmark uintptr
	flags := uintptr(evtSubscribeToFutureEvents)
	if after > 0 {
		bx, err := utf16Ptr(BookmarkXML(map[string]uint64{channel: after}, channel))
		if err != nil {
			windows.CloseHandle(sig)
			return 0, err
		}
		b, _, e := procCreateBookmark.Call(uintptr(unsafe.Pointer(bx)))
		if b == 0 {
			windows.CloseHandle(sig)
			return 0, fmt.Errorf("EvtCreateBookmark: %w", e)
		}
		defer procClose.Call(b)
		bookmark, flags = b, evtSubscribeStartAfterBookmark
	}
	h, _, e := procSubscribe.Call(0, uintptr(sig), uintptr(unsafe.Pointer(ch)), uintptr(unsafe.Pointer(q)), bookmark, 0, 0, flags)
	if h == 0 {
		windows.CloseHandle(sig)
		return 0, e
	}
	a.mu.Lock()
	a.signals[Handle(h)] = sig
	a.mu.Unlock()
	return Handle(h), nil
}

func (a *windowsAPI) Next(sub Handle, max int) ([]Handle, error) {
	hs := make([]uintptr, max)
	var n uint32
	r, _, e := procNext.Call(uintptr(sub), uintptr(max), uintptr(unsafe.Pointer(&hs[0])), 0, 0, uintptr(unsafe.Pointer(&n)))
	out := make([]Handle, 0, n)
	for _, h := range hs[:min(int(n), max)] {
		out = append(out, Handle(h))
	}
	if r == 0 {
		return out, e
	}
	return out, nil
}

func (a *windowsAPI) Render(event Handle) ([]byte, error) {
	buf := make([]uint16, 8<<10)
	for try := 0; try < 2; try++ {
		var used, props uint32
		r, _, e := procRender.Call(0, uintptr(event), evtRenderEventXML, uintptr(len(buf)*2), uintptr(unsafe.Pointer(&buf[0])),
			uintptr(unsafe.Pointer(&used)), uintptr(unsafe.Pointer(&props)))
		if r != 0 {
			return []byte(windows.UTF16ToString(buf[:min(int(used/2), len(buf))])), nil
		}
		if !errors.Is(e, windows.ERROR_INSUFFICIENT_BUFFER) {
			return nil, e
		}
		buf = make([]uint16, used/2+1)
	}
	return nil, windows.ERROR_INSUFFICIENT_BUFFER
}

func (a *windowsAPI) Close(h Handle) {
	procClose.Call(uintptr(h))
	a.mu.Lock()
	sig, ok := a.signals[h]
	delete(a.signals, h)
	a.mu.Unlock()
	if ok {
		windows.CloseHandle(sig)
	}
}

func (a *windowsAPI) Wait(subs []Handle, timeout time.Duration) (int, error) {
	handles := []windows.Handle{a.stop}
	a.mu.Lock()
	for _, s := range subs {
		handles = append(handles, a.signals[s])
	}
	a.mu.Unlock()
	ms := uint32((timeout + time.Millisecond - 1) / time.Millisecond)
	r, err := windows.WaitForMultipleObjects(handles, false, ms)
	if err != nil {
		return 0, err
	}
	switch i := int(r) - int(windows.WAIT_OBJECT_0); {
	case r == uint32(windows.WAIT_TIMEOUT):
		return WaitTimedOut, nil
	case i == 0:
		return WaitWoken, nil
	case i >= 1 && i <= len(subs):
		return i - 1, nil
	}
	return 0, fmt.Errorf("WaitForMultipleObjects returned %#x", r)
}

func (a *windowsAPI) Wake() { windows.SetEvent(a.stop) }

func (a *windowsAPI) Release() { windows.CloseHandle(a.stop) }

func (a *windowsAPI) ProcessCreationAudited() (bool, error) {
	var info *auditPolicyInformation
	g := processCreationGUID
	r, _, e := procAuditQuerySystem.Call(uintptr(unsafe.Pointer(&g)), 1, uintptr(unsafe.Pointer(&info)))
	if r == 0 {
		return false, fmt.Errorf("AuditQuerySystemPolicy: %w", e)
	}
	defer procAuditFree.Call(uintptr(unsafe.Pointer(info)))
	return info.AuditingInformation&policyAuditEventSuccess != 0, nil
}
