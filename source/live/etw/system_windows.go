//go:build windows && (amd64 || arm64)

package etw

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/tsclientwatch/tsclientwatch/internal/recovered"
)

// This file is the thin layer over advapi32 and kernel32 behind System:
// each method is one or two calls, with no decisions of its own. Nothing
// here has run on Windows yet (no Windows host or Wine where it is built);
// it is compiled and vetted for windows/amd64 and windows/arm64 in CI, and
// the lifecycle around it is tested with a fake (watcher_test.go).

// The struct layouts below mirror the Windows SDK (evntrace.h, evntcons.h)
// for 64-bit targets, where Go's alignment matches the C compiler's.

type wnodeHeader struct {
	BufferSize        uint32
	ProviderID        uint32
	HistoricalContext uint64
	TimeStamp         int64
	GUID              windows.GUID
	ClientContext     uint32
	Flags             uint32
}

type eventTraceProperties struct {
	Wnode               wnodeHeader
	BufferSize          uint32
	MinimumBuffers      uint32
	MaximumBuffers      uint32
	MaximumFileSize     uint32
	LogFileMode         uint32
	FlushTimer          uint32
	EnableFlags         uint32
	AgeLimit            int32
	NumberOfBuffers     uint32
	FreeBuffers         uint32
	EventsLost          uint32
	BuffersWritten      uint32
	LogBuffersLost      uint32
	RealTimeBuffersLost uint32
	LoggerThreadID      uintptr
	LogFileNameOffset   uint32
	LoggerNameOffset    uint32
}

// propertiesBuf is EVENT_TRACE_PROPERTIES followed by room for the session
// name and log file name, as StartTrace, ControlTrace and QueryAllTraces
// want it.
type propertiesBuf struct {
	p       eventTraceProperties
	name    [1024]uint16
	logFile [1024]uint16
}

type eventTraceHeader struct {
	Size       uint16
	HeaderType uint8
	MarkerFlag uint8
	Class      uint32
	ThreadID   uint32
	ProcessID  uint32
	TimeStamp  int64
	GUID       windows.GUID
	ClientTime uint64
}

type eventTrace struct {
	Header           eventTraceHeader
	InstanceID       uint32
	ParentInstanceID uint32
	ParentGUID       windows.GUID
	MofData          uintptr
	MofLength        uint32
	BufferContext    uint32
}

type timeZoneInformation struct {
	Bias         int32
	StandardName [32]uint16
	StandardDate [8]uint16
	StandardBias int32
	DaylightName [32]uint16
	DaylightDate [8]uint16
	DaylightBias int32
}

type traceLogfileHeader struct {
	BufferSize         uint32
	Version            uint32
	ProviderVersion    uint32
	NumberOfProcessors uint32
	EndTime            int64
	TimerResolution    uint32
	MaximumFileSize    uint32
	LogFileMode        uint32
	BuffersWritten     uint32
	LogInstanceGUID    windows.GUID
	LoggerName         *uint16
	LogFileName        *uint16
	TimeZone           timeZoneInformation
	BootTime           int64
	PerfFreq           int64
	StartTime          int64
	ReservedFlags      uint32
	BuffersLost        uint32
}

type eventTraceLogfile struct {
	LogFileName         *uint16
	LoggerName          *uint16
	CurrentTime         int64
	BuffersRead         uint32
	ProcessTraceMode    uint32
	CurrentEvent        eventTrace
	LogfileHeader       traceLogfileHeader
	BufferCallback      uintptr
	BufferSize          uint32
	Filled              uint32
	EventsLost          uint32
	EventRecordCallback uintptr
	IsKernelTrace       uint32
	Context             uintptr
}

type eventDescriptor struct {
	ID      uint16
	Version uint8
	Channel uint8
	Level   uint8
	Opcode  uint8
	Task    uint16
	Keyword uint64
}

type eventHeader struct {
	Size            uint16
	HeaderType      uint16
	Flags           uint16
	EventProperty   uint16
	ThreadID        uint32
	ProcessID       uint32
	TimeStamp       int64
	ProviderID      windows.GUID
	EventDescriptor eventDescriptor
	ProcessorTime   uint64
	ActivityID      windows.GUID
}

type eventRecord struct {
	EventHeader       eventHeader
	BufferContext     uint32
	ExtendedDataCount uint16
	UserDataLength    uint16
	ExtendedData      *extendedDataItem
	UserData          unsafe.Pointer
	UserContext       uintptr
}

type extendedDataItem struct {
	Reserved1 uint16
	ExtType   uint16
	Linkage   uint16
	DataSize  uint16
	DataPtr   unsafe.Pointer // ULONGLONG holding a pointer; 64-bit only
}

type enableTraceParameters struct {
	Version          uint32
	EnableProperty   uint32
	ControlFlags     uint32
	SourceID         windows.GUID
	EnableFilterDesc *eventFilterDescriptor
	FilterDescCount  uint32
}

type eventFilterDescriptor struct {
	Ptr  uint64 // ULONGLONG holding the address of the filter payload
	Size uint32
	Type uint32
}

const (
	wnodeFlagTracedGUID       = 0x00020000
	eventTraceRealTimeMode    = 0x00000100
	processTraceModeRealTime  = 0x00000100
	processTraceModeEvent     = 0x10000000
	eventTraceControlQuery    = 0
	eventTraceControlStop     = 1
	eventControlEnable        = 1
	traceLevelInformation     = 4
	enableTraceParametersV2   = 2
	eventEnablePropertySID    = 0x1
	eventHeaderExtTypeSID     = 2
	eventFilterTypeEventID    = 0x80000200
	invalidProcessTraceHandle = ^uint64(0)
	errCtxClosePending        = syscall.Errno(7007) // ERROR_CTX_CLOSE_PENDING: CloseTrace from the callback
	stillActive               = 259                 // STILL_ACTIVE exit code
)

var (
	advapi32           = windows.NewLazySystemDLL("advapi32.dll")
	procStartTrace     = advapi32.NewProc("StartTraceW")
	procControlTrace   = advapi32.NewProc("ControlTraceW")
	procEnableTrace    = advapi32.NewProc("EnableTraceEx2")
	procOpenTrace      = advapi32.NewProc("OpenTraceW")
	procProcessTrace   = advapi32.NewProc("ProcessTrace")
	procCloseTrace     = advapi32.NewProc("CloseTrace")
	procQueryAllTraces = advapi32.NewProc("QueryAllTracesW")
)

// Open starts a watcher on this host. It needs administrator rights (or
// membership in Performance Log Users).
func Open() (*Watcher, error) { return New(windowsSystem{}, Options{}) }

// windowsSystem is System over the real API.
type windowsSystem struct{}

func filetimeValue(ft windows.Filetime) uint64 {
	return uint64(ft.HighDateTime)<<32 | uint64(ft.LowDateTime)
}

func processCreated(h windows.Handle) (uint64, error) {
	var c, e, k, u windows.Filetime
	if err := windows.GetProcessTimes(h, &c, &e, &k, &u); err != nil {
		return 0, err
	}
	return filetimeValue(c), nil
}

func (windowsSystem) Self() (uint32, uint64) {
	created, _ := processCreated(windows.CurrentProcess())
	return windows.GetCurrentProcessId(), created
}

func (windowsSystem) ProcessCreated(pid uint32) (uint64, bool, error) {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if errors.Is(err, windows.ERROR_INVALID_PARAMETER) {
		return 0, false, nil // no process has this id
	}
	if err != nil {
		return 0, false, err
	}
	defer windows.CloseHandle(h)
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err == nil && code != stillActive {
		return 0, false, nil // exited; someone still holds a handle
	}
	c, err := processCreated(h)
	return c, err == nil, err
}

func (windowsSystem) Sessions() ([]string, error) {
	n := 64
	for {
		bufs := make([]propertiesBuf, n)
		ptrs := make([]*eventTraceProperties, n)
		for i := range bufs {
			initProperties(&bufs[i], true)
			ptrs[i] = &bufs[i].p
		}
		var count uint32
		r, _, _ := procQueryAllTraces.Call(uintptr(unsafe.Pointer(&ptrs[0])), uintptr(n), uintptr(unsafe.Pointer(&count)))
		runtime.KeepAlive(bufs)
		if syscall.Errno(r) == windows.ERROR_MORE_DATA && int(count) > n && n < 4096 {
			n = int(count)
			continue
		}
		if r != 0 {
			return nil, fmt.Errorf("QueryAllTraces: %w", syscall.Errno(r))
		}
		names := make([]string, 0, count)
		for i := 0; i < int(count) && i < n; i++ {
			names = append(names, bufs[i].loggerName())
		}
		return names, nil
	}
}

// initProperties prepares b for a call; withLogFile also reserves room for
// the log file name (QueryAllTraces requires it; StartTrace of a real-time
// session must not have one).
func initProperties(b *propertiesBuf, withLogFile bool) {
	*b = propertiesBuf{}
	b.p.Wnode.BufferSize = uint32(unsafe.Sizeof(*b))
	b.p.Wnode.Flags = wnodeFlagTracedGUID
	b.p.LoggerNameOffset = uint32(unsafe.Offsetof(b.name))
	if withLogFile {
		b.p.LogFileNameOffset = uint32(unsafe.Offsetof(b.logFile))
	}
}

// loggerName reads the name ETW wrote at LoggerNameOffset, within b.
func (b *propertiesBuf) loggerName() string {
	off := uintptr(b.p.LoggerNameOffset)
	if off < unsafe.Sizeof(b.p) || off >= unsafe.Sizeof(*b) {
		return ""
	}
	units := unsafe.Slice((*uint16)(unsafe.Add(unsafe.Pointer(b), off)), (unsafe.Sizeof(*b)-off)/2)
	return windows.UTF16ToString(units)
}

func (b *propertiesBuf) stats() SessionStats {
	return SessionStats{EventsLost: uint64(b.p.EventsLost), RealTimeBuffersLost: uint64(b.p.RealTimeBuffersLost)}
}

func (windowsSystem) StartSession(name string) (uint64, error) {
	n, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return 0, err
	}
	b := new(propertiesBuf)
	initProperties(b, false)
	b.p.Wnode.ClientContext = 1 // QueryPerformanceCounter timestamps
	b.p.LogFileMode = eventTraceRealTimeMode
	b.p.BufferSize = 64 // KiB
	b.p.MinimumBuffers = 8
	b.p.MaximumBuffers = 64
	b.p.FlushTimer = 1 // second
	var h uint64
	r, _, _ := procStartTrace.Call(uintptr(unsafe.Pointer(&h)), uintptr(unsafe.Pointer(n)), uintptr(unsafe.Pointer(&b.p)))
	if r != 0 {
		return 0, syscall.Errno(r)
	}
	return h, nil
}

func (windowsSystem) EnableProvider(session uint64, provider GUID, keywords uint64, ids []uint16) error {
	g := windows.GUID(provider)
	params := enableTraceParameters{Version: enableTraceParametersV2, EnableProperty: eventEnablePropertySID}
	var payload []byte
	var desc eventFilterDescriptor
	if len(ids) > 0 {
		payload = eventIDFilter(ids)
		desc = eventFilterDescriptor{Ptr: uint64(uintptr(unsafe.Pointer(&payload[0]))), Size: uint32(len(payload)), Type: eventFilterTypeEventID}
		params.EnableFilterDesc = &desc
		params.FilterDescCount = 1
	}
	r, _, _ := procEnableTrace.Call(uintptr(session), uintptr(unsafe.Pointer(&g)), eventControlEnable,
		traceLevelInformation, uintptr(keywords), 0, 0, uintptr(unsafe.Pointer(&params)))
	runtime.KeepAlive(payload)
	runtime.KeepAlive(&desc)
	if r != 0 {
		return syscall.Errno(r)
	}
	return nil
}

func controlTrace(name string, code uintptr) (SessionStats, error) {
	n, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return SessionStats{}, err
	}
	b := new(propertiesBuf)
	initProperties(b, true)
	r, _, _ := procControlTrace.Call(0, uintptr(unsafe.Pointer(n)), uintptr(unsafe.Pointer(&b.p)), code)
	if r != 0 {
		return SessionStats{}, syscall.Errno(r)
	}
	return b.stats(), nil
}

func (windowsSystem) QuerySession(name string) (SessionStats, error) {
	return controlTrace(name, eventTraceControlQuery)
}

func (windowsSystem) StopSession(name string) (SessionStats, error) {
	return controlTrace(name, eventTraceControlStop)
}

// consumer is an open trace and the deliver function its callbacks go to.
// The callback finds it by the integer key passed as the logfile's
// Context: ETW keeps that value, so it must not be a Go pointer.
type consumer struct {
	deliver    func(*Record)
	key        uintptr
	processing bool
}

var (
	consumersMu sync.Mutex
	consumers   = map[uintptr]*consumer{} // by key
	byHandle    = map[uint64]*consumer{}
	nextKey     uintptr
	// callback is created once: callbacks made by NewCallback are never
	// freed and their number is limited.
	callbackOnce sync.Once
	callback     uintptr
)

func (windowsSystem) OpenConsumer(name string, deliver func(*Record)) (uint64, error) {
	n, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return 0, err
	}
	callbackOnce.Do(func() { callback = windows.NewCallback(eventRecordCallback) })
	consumersMu.Lock()
	nextKey++
	c := &consumer{deliver: deliver, key: nextKey}
	consumers[c.key] = c
	consumersMu.Unlock()
	logfile := eventTraceLogfile{
		LoggerName:          n,
		ProcessTraceMode:    processTraceModeRealTime | processTraceModeEvent,
		EventRecordCallback: callback,
		Context:             c.key,
	}
	h, _, e := procOpenTrace.Call(uintptr(unsafe.Pointer(&logfile)))
	consumersMu.Lock()
	defer consumersMu.Unlock()
	if uint64(h) == invalidProcessTraceHandle {
		delete(consumers, c.key)
		return 0, e
	}
	byHandle[uint64(h)] = c
	return uint64(h), nil
}

func (windowsSystem) Process(h uint64) error {
	consumersMu.Lock()
	c := byHandle[h]
	if c != nil {
		c.processing = true
	}
	consumersMu.Unlock()
	if c == nil {
		return fmt.Errorf("no consumer with handle %#x", h)
	}
	// A bad pointer in an event record becomes a panic the callback
	// recovers, not a crash of the process.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	handle := h
	r, _, _ := procProcessTrace.Call(uintptr(unsafe.Pointer(&handle)), 1, 0, 0)
	consumersMu.Lock()
	delete(consumers, c.key)
	delete(byHandle, h)
	consumersMu.Unlock()
	if r != 0 {
		return syscall.Errno(r)
	}
	return nil
}

func (windowsSystem) CloseConsumer(h uint64) error {
	r, _, _ := procCloseTrace.Call(uintptr(h))
	consumersMu.Lock()
	if c := byHandle[h]; c != nil && !c.processing {
		delete(consumers, c.key)
		delete(byHandle, h)
	}
	consumersMu.Unlock()
	if r != 0 && syscall.Errno(r) != errCtxClosePending {
		return syscall.Errno(r)
	}
	return nil
}

// eventRecordCallback is EVENT_RECORD_CALLBACK. It turns the native record
// into a Record without copying (the watcher copies what it keeps) and
// hands it on. No panic may leave it: Go cannot unwind through
// ProcessTrace's frames.
func eventRecordCallback(rec *eventRecord) uintptr {
	defer func() { recover() }() // last resort; deliver recovers its own
	consumersMu.Lock()
	c := consumers[rec.UserContext]
	consumersMu.Unlock()
	if c == nil {
		return 0
	}
	r, err := toRecord(rec)
	if err != nil {
		r = Record{Err: err}
	}
	c.deliver(&r)
	return 0
}

func toRecord(rec *eventRecord) (r Record, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = recovered.Error("reading an ETW event record", p)
		}
	}()
	d := &rec.EventHeader.EventDescriptor
	r = Record{Provider: GUID(rec.EventHeader.ProviderID), ID: d.ID, Version: d.Version, Opcode: d.Opcode}
	if rec.UserData != nil && rec.UserDataLength > 0 {
		r.UserData = unsafe.Slice((*byte)(rec.UserData), rec.UserDataLength)
	}
	if rec.ExtendedData != nil && rec.ExtendedDataCount > 0 {
		for _, it := range unsafe.Slice(rec.ExtendedData, rec.ExtendedDataCount) {
			if it.ExtType == eventHeaderExtTypeSID && it.DataPtr != nil && it.DataSize > 0 {
				r.SID = unsafe.Slice((*byte)(it.DataPtr), it.DataSize)
				break
			}
		}
	}
	return r, nil
}

func (windowsSystem) ProcessUser(pid uint32, created uint64) (string, error) {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return "", err
	}
	defer windows.CloseHandle(h)
	if c, err := processCreated(h); err != nil || c != created {
		return "", fmt.Errorf("pid %d is no longer the process that started", pid)
	}
	var tok windows.Token
	if err := windows.OpenProcessToken(h, windows.TOKEN_QUERY, &tok); err != nil {
		return "", err
	}
	defer tok.Close()
	u, err := tok.GetTokenUser()
	if err != nil {
		return "", err
	}
	return u.User.Sid.String(), nil
}

func (windowsSystem) ProcessLogon(pid uint32, created uint64) (uint64, error) {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return 0, err
	}
	defer windows.CloseHandle(h)
	if c, err := processCreated(h); err != nil || c != created {
		return 0, fmt.Errorf("pid %d is no longer the process that started", pid)
	}
	var tok windows.Token
	if err := windows.OpenProcessToken(h, windows.TOKEN_QUERY, &tok); err != nil {
		return 0, err
	}
	defer tok.Close()
	var b [tokenStatisticsSize]byte
	var n uint32
	if err := windows.GetTokenInformation(tok, windows.TokenStatistics, &b[0], uint32(len(b)), &n); err != nil {
		return 0, fmt.Errorf("GetTokenInformation(TokenStatistics): %w", err)
	}
	return DecodeTokenStatistics(b[:n])
}

func (windowsSystem) LookupAccount(sid string) (string, error) {
	s, err := windows.StringToSid(sid)
	if err != nil {
		return "", err
	}
	acct, dom, _, err := s.LookupAccount("")
	if err != nil {
		return "", err
	}
	if dom != "" {
		return dom + `\` + acct, nil
	}
	return acct, nil
}

// Layout guards against the SDK's 64-bit sizes and the offset of every
// field this file reads or writes: a field slip fails the build (CI vets
// windows/amd64 and windows/arm64) instead of corrupting memory.
var (
	_ [120]byte = [unsafe.Sizeof(eventTraceProperties{})]byte{}
	_ [448]byte = [unsafe.Sizeof(eventTraceLogfile{})]byte{}
	_ [280]byte = [unsafe.Sizeof(traceLogfileHeader{})]byte{}
	_ [88]byte  = [unsafe.Sizeof(eventTrace{})]byte{}
	_ [112]byte = [unsafe.Sizeof(eventRecord{})]byte{}
	_ [80]byte  = [unsafe.Sizeof(eventHeader{})]byte{}
	_ [16]byte  = [unsafe.Sizeof(eventDescriptor{})]byte{}
	_ [16]byte  = [unsafe.Sizeof(extendedDataItem{})]byte{}
	_ [48]byte  = [unsafe.Sizeof(enableTraceParameters{})]byte{}
	_ [16]byte  = [unsafe.Sizeof(eventFilterDescriptor{})]byte{}
	_ [48]byte  = [unsafe.Sizeof(wnodeHeader{})]byte{}

	// WNODE_HEADER
	_ [0]byte  = [unsafe.Offsetof(wnodeHeader{}.BufferSize)]byte{}
	_ [40]byte = [unsafe.Offsetof(wnodeHeader{}.ClientContext)]byte{}
	_ [44]byte = [unsafe.Offsetof(wnodeHeader{}.Flags)]byte{}
	// EVENT_TRACE_PROPERTIES
	_ [48]byte  = [unsafe.Offsetof(eventTraceProperties{}.BufferSize)]byte{}
	_ [52]byte  = [unsafe.Offsetof(eventTraceProperties{}.MinimumBuffers)]byte{}
	_ [56]byte  = [unsafe.Offsetof(eventTraceProperties{}.MaximumBuffers)]byte{}
	_ [64]byte  = [unsafe.Offsetof(eventTraceProperties{}.LogFileMode)]byte{}
	_ [68]byte  = [unsafe.Offsetof(eventTraceProperties{}.FlushTimer)]byte{}
	_ [88]byte  = [unsafe.Offsetof(eventTraceProperties{}.EventsLost)]byte{}
	_ [100]byte = [unsafe.Offsetof(eventTraceProperties{}.RealTimeBuffersLost)]byte{}
	_ [104]byte = [unsafe.Offsetof(eventTraceProperties{}.LoggerThreadID)]byte{}
	_ [112]byte = [unsafe.Offsetof(eventTraceProperties{}.LogFileNameOffset)]byte{}
	_ [116]byte = [unsafe.Offsetof(eventTraceProperties{}.LoggerNameOffset)]byte{}
	// EVENT_TRACE_LOGFILEW
	_ [8]byte   = [unsafe.Offsetof(eventTraceLogfile{}.LoggerName)]byte{}
	_ [28]byte  = [unsafe.Offsetof(eventTraceLogfile{}.ProcessTraceMode)]byte{}
	_ [32]byte  = [unsafe.Offsetof(eventTraceLogfile{}.CurrentEvent)]byte{}
	_ [120]byte = [unsafe.Offsetof(eventTraceLogfile{}.LogfileHeader)]byte{}
	_ [400]byte = [unsafe.Offsetof(eventTraceLogfile{}.BufferCallback)]byte{}
	_ [424]byte = [unsafe.Offsetof(eventTraceLogfile{}.EventRecordCallback)]byte{}
	_ [432]byte = [unsafe.Offsetof(eventTraceLogfile{}.IsKernelTrace)]byte{}
	_ [440]byte = [unsafe.Offsetof(eventTraceLogfile{}.Context)]byte{}
	// EVENT_HEADER and EVENT_DESCRIPTOR
	_ [24]byte = [unsafe.Offsetof(eventHeader{}.ProviderID)]byte{}
	_ [40]byte = [unsafe.Offsetof(eventHeader{}.EventDescriptor)]byte{}
	_ [64]byte = [unsafe.Offsetof(eventHeader{}.ActivityID)]byte{}
	_ [0]byte  = [unsafe.Offsetof(eventDescriptor{}.ID)]byte{}
	_ [2]byte  = [unsafe.Offsetof(eventDescriptor{}.Version)]byte{}
	_ [5]byte  = [unsafe.Offsetof(eventDescriptor{}.Opcode)]byte{}
	// EVENT_RECORD
	_ [84]byte  = [unsafe.Offsetof(eventRecord{}.ExtendedDataCount)]byte{}
	_ [86]byte  = [unsafe.Offsetof(eventRecord{}.UserDataLength)]byte{}
	_ [88]byte  = [unsafe.Offsetof(eventRecord{}.ExtendedData)]byte{}
	_ [96]byte  = [unsafe.Offsetof(eventRecord{}.UserData)]byte{}
	_ [104]byte = [unsafe.Offsetof(eventRecord{}.UserContext)]byte{}
	// EVENT_HEADER_EXTENDED_DATA_ITEM
	_ [2]byte = [unsafe.Offsetof(extendedDataItem{}.ExtType)]byte{}
	_ [6]byte = [unsafe.Offsetof(extendedDataItem{}.DataSize)]byte{}
	_ [8]byte = [unsafe.Offsetof(extendedDataItem{}.DataPtr)]byte{}
	// ENABLE_TRACE_PARAMETERS and EVENT_FILTER_DESCRIPTOR
	_ [4]byte  = [unsafe.Offsetof(enableTraceParameters{}.EnableProperty)]byte{}
	_ [32]byte = [unsafe.Offsetof(enableTraceParameters{}.EnableFilterDesc)]byte{}
	_ [40]byte = [unsafe.Offsetof(enableTraceParameters{}.FilterDescCount)]byte{}
	_ [8]byte  = [unsafe.Offsetof(eventFilterDescriptor{}.Size)]byte{}
	_ [12]byte = [unsafe.Offsetof(eventFilterDescriptor{}.Type)]byte{}
)
