//go:build windows && (amd64 || arm64)

package etw

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/tsclientwatch/tsclientwatch/source"
)

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
// name, as StartTrace and ControlTrace want it.
type propertiesBuf struct {
	p    eventTraceProperties
	name [1024]uint16
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
	EnableFilterDesc uintptr
	FilterDescCount  uint32
}

const (
	wnodeFlagTracedGUID       = 0x00020000
	eventTraceRealTimeMode    = 0x00000100
	processTraceModeRealTime  = 0x00000100
	processTraceModeEvent     = 0x10000000
	eventTraceControlStop     = 1
	eventControlEnable        = 1
	traceLevelInformation     = 4
	enableTraceParametersV2   = 2
	eventEnablePropertySID    = 0x1
	eventHeaderExtTypeSID     = 2
	invalidProcessTraceHandle = ^uint64(0)
)

var (
	advapi32         = windows.NewLazySystemDLL("advapi32.dll")
	procStartTrace   = advapi32.NewProc("StartTraceW")
	procControlTrace = advapi32.NewProc("ControlTraceW")
	procEnableTrace  = advapi32.NewProc("EnableTraceEx2")
	procOpenTrace    = advapi32.NewProc("OpenTraceW")
	procProcessTrace = advapi32.NewProc("ProcessTrace")
	procCloseTrace   = advapi32.NewProc("CloseTrace")
)

// SessionName is the ETW session this package owns. A session left behind
// by a crashed run is stopped and replaced.
const SessionName = "tsclientwatch-process"

// Watcher is a real-time ETW session with the kernel process provider
// enabled.
type Watcher struct {
	session uint64 // TRACEHANDLE from StartTrace
	trace   uint64 // TRACEHANDLE from OpenTrace
	props   *propertiesBuf
	id      uintptr // key in watchers, passed as the logfile Context

	sink   source.Sink
	err    error
	users  map[string]string
	events atomic.Uint64
	bad    atomic.Uint64
	closed atomic.Bool
}

var (
	watchersMu sync.Mutex
	watchers   = map[uintptr]*Watcher{}
	nextID     uintptr
	// callback is created once: Windows callbacks made by NewCallback are
	// never freed and their number is limited.
	callbackOnce sync.Once
	callback     uintptr
)

// Open starts the session and enables ProcessStart events with the user
// SID attached. It needs administrator rights (or membership in
// Performance Log Users).
func Open() (*Watcher, error) {
	w := &Watcher{props: newProperties(), users: make(map[string]string)}
	name, _ := windows.UTF16PtrFromString(SessionName)
	r, _, _ := procStartTrace.Call(uintptr(unsafe.Pointer(&w.session)), uintptr(unsafe.Pointer(name)), uintptr(unsafe.Pointer(&w.props.p)))
	if syscall.Errno(r) == windows.ERROR_ALREADY_EXISTS {
		stop := newProperties()
		procControlTrace.Call(0, uintptr(unsafe.Pointer(name)), uintptr(unsafe.Pointer(&stop.p)), eventTraceControlStop)
		w.props = newProperties()
		r, _, _ = procStartTrace.Call(uintptr(unsafe.Pointer(&w.session)), uintptr(unsafe.Pointer(name)), uintptr(unsafe.Pointer(&w.props.p)))
	}
	if r != 0 {
		if syscall.Errno(r) == windows.ERROR_ACCESS_DENIED {
			return nil, errors.New("etw: access denied starting a trace session (need Administrator or Performance Log Users)")
		}
		return nil, fmt.Errorf("etw: StartTrace: %w", syscall.Errno(r))
	}
	guid, err := windows.GUIDFromString(Provider)
	if err != nil {
		w.stop()
		return nil, fmt.Errorf("etw: %w", err)
	}
	params := enableTraceParameters{Version: enableTraceParametersV2, EnableProperty: eventEnablePropertySID}
	r, _, _ = procEnableTrace.Call(uintptr(w.session), uintptr(unsafe.Pointer(&guid)), eventControlEnable,
		traceLevelInformation, KeywordProcess, 0, 0, uintptr(unsafe.Pointer(&params)))
	if r != 0 {
		w.stop()
		return nil, fmt.Errorf("etw: EnableTraceEx2 %s: %w", Provider, syscall.Errno(r))
	}
	callbackOnce.Do(func() { callback = windows.NewCallback(eventRecordCallback) })
	watchersMu.Lock()
	nextID++
	w.id = nextID
	watchers[w.id] = w
	watchersMu.Unlock()
	logfile := eventTraceLogfile{
		LoggerName:          name,
		ProcessTraceMode:    processTraceModeRealTime | processTraceModeEvent,
		EventRecordCallback: callback,
		Context:             w.id,
	}
	h, _, e := procOpenTrace.Call(uintptr(unsafe.Pointer(&logfile)))
	if uint64(h) == invalidProcessTraceHandle {
		w.Close()
		return nil, fmt.Errorf("etw: OpenTrace: %w", e)
	}
	w.trace = uint64(h)
	return w, nil
}

func newProperties() *propertiesBuf {
	b := &propertiesBuf{}
	b.p.Wnode.BufferSize = uint32(unsafe.Sizeof(*b))
	b.p.Wnode.Flags = wnodeFlagTracedGUID
	b.p.Wnode.ClientContext = 1 // QueryPerformanceCounter timestamps
	b.p.LogFileMode = eventTraceRealTimeMode
	b.p.BufferSize = 64 // KiB
	b.p.MinimumBuffers = 8
	b.p.MaximumBuffers = 64
	b.p.FlushTimer = 1
	b.p.LoggerNameOffset = uint32(unsafe.Offsetof(b.name))
	return b
}

// Run delivers events until ctx ends or Close is called. ProcessTrace
// blocks on the calling goroutine's thread and calls back on it.
func (w *Watcher) Run(ctx context.Context, sink source.Sink) error {
	w.sink = sink
	stop := context.AfterFunc(ctx, func() { w.Close() })
	defer stop()
	r, _, _ := procProcessTrace.Call(uintptr(unsafe.Pointer(&w.trace)), 1, 0, 0)
	if w.err != nil {
		return w.err
	}
	if r != 0 && !w.closed.Load() && syscall.Errno(r) != windows.ERROR_CANCELLED {
		return fmt.Errorf("etw: ProcessTrace: %w", syscall.Errno(r))
	}
	return nil
}

func eventRecordCallback(rec *eventRecord) uintptr {
	watchersMu.Lock()
	w := watchers[rec.UserContext]
	watchersMu.Unlock()
	if w == nil || w.err != nil {
		return 0
	}
	w.handle(rec)
	return 0
}

func (w *Watcher) handle(rec *eventRecord) {
	d := &rec.EventHeader.EventDescriptor
	if d.ID != EventProcessStart {
		return
	}
	data := unsafe.Slice((*byte)(rec.UserData), rec.UserDataLength)
	p, err := DecodeProcessStart(d.Version, data)
	if err != nil {
		n := w.bad.Add(1)
		w.sink.Report(&source.RecordError{File: "etw " + SessionName, Record: int64(n), Offset: -1, Err: err})
		return
	}
	w.events.Add(1)
	ev := p.Event(w.user(rec))
	if err := w.sink.Emit(&ev); err != nil {
		w.err = err
		w.Close()
	}
}

// user resolves the SID extended data item to DOMAIN\name, caching by SID.
func (w *Watcher) user(rec *eventRecord) string {
	items := unsafe.Slice(rec.ExtendedData, rec.ExtendedDataCount)
	for _, it := range items {
		if it.ExtType != eventHeaderExtTypeSID || it.DataPtr == nil {
			continue
		}
		b := unsafe.Slice((*byte)(it.DataPtr), it.DataSize)
		s, _, err := SIDString(b)
		if err != nil {
			return ""
		}
		if n, ok := w.users[s]; ok {
			return n
		}
		n := s
		if sid, err := windows.StringToSid(s); err == nil {
			if acct, dom, _, err := sid.LookupAccount(""); err == nil {
				n = acct
				if dom != "" {
					n = dom + `\` + acct
				}
			}
		}
		if len(w.users) < 4096 {
			w.users[s] = n
		}
		return n
	}
	return ""
}

// Events returns the process starts delivered.
func (w *Watcher) Events() uint64 { return w.events.Load() }

// Lost returns the events the session dropped plus undecodable ones.
func (w *Watcher) Lost() uint64 {
	q := newProperties()
	name, _ := windows.UTF16PtrFromString(SessionName)
	const eventTraceControlQuery = 0
	if r, _, _ := procControlTrace.Call(uintptr(w.session), uintptr(unsafe.Pointer(name)), uintptr(unsafe.Pointer(&q.p)), eventTraceControlQuery); r != 0 {
		return w.bad.Load()
	}
	return uint64(q.p.EventsLost) + uint64(q.p.RealTimeBuffersLost) + w.bad.Load()
}

func (w *Watcher) stop() {
	name, _ := windows.UTF16PtrFromString(SessionName)
	procControlTrace.Call(uintptr(w.session), uintptr(unsafe.Pointer(name)), uintptr(unsafe.Pointer(&w.props.p)), eventTraceControlStop)
}

// Close stops the session; ProcessTrace then returns.
func (w *Watcher) Close() error {
	if w.closed.Swap(true) {
		return nil
	}
	w.stop()
	if w.trace != 0 {
		procCloseTrace.Call(uintptr(w.trace))
	}
	watchersMu.Lock()
	delete(watchers, w.id)
	watchersMu.Unlock()
	return nil
}

// Compile-time checks against the SDK's 64-bit sizes: a field slip fails
// the build (CI runs GOOS=windows go vet) instead of corrupting memory.
var (
	_ [120]byte = [unsafe.Sizeof(eventTraceProperties{})]byte{}
	_ [448]byte = [unsafe.Sizeof(eventTraceLogfile{})]byte{}
	_ [280]byte = [unsafe.Sizeof(traceLogfileHeader{})]byte{}
	_ [112]byte = [unsafe.Sizeof(eventRecord{})]byte{}
	_ [80]byte  = [unsafe.Sizeof(eventHeader{})]byte{}
	_ [16]byte  = [unsafe.Sizeof(extendedDataItem{})]byte{}
	_ [48]byte  = [unsafe.Sizeof(enableTraceParameters{})]byte{}
)
