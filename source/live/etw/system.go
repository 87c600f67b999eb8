package etw

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// System is the handful of advapi32 and kernel32 calls the watcher makes.
// The real one (system_windows.go) is a thin layer over
// golang.org/x/sys/windows; tests drive the watcher with a scripted fake, so
// everything around these calls runs on every platform.
type System interface {
	// Self returns this process's id and creation time (FILETIME). Both
	// go into the session name, so a later run can tell whether the
	// session's owner still runs.
	Self() (pid uint32, created uint64)
	// ProcessCreated returns the creation time of process pid, or running
	// false when no such process runs. err means it could not tell
	// (access denied).
	ProcessCreated(pid uint32) (created uint64, running bool, err error)
	// Sessions lists the names of the trace sessions running on the host
	// (QueryAllTracesW).
	Sessions() ([]string, error)
	// StartSession starts a real-time session called name (StartTraceW)
	// and returns its handle.
	StartSession(name string) (uint64, error)
	// EnableProvider enables provider on the session at information level
	// for keywords, with each event's user SID attached (EnableTraceEx2).
	// A non-empty eventIDs installs an event-id filter, so the kernel
	// drops every other event of the provider.
	EnableProvider(session uint64, provider GUID, keywords uint64, eventIDs []uint16) error
	// QuerySession returns the session's statistics (ControlTrace QUERY).
	QuerySession(name string) (SessionStats, error)
	// StopSession stops the session called name and returns its final
	// statistics (ControlTrace STOP).
	StopSession(name string) (SessionStats, error)
	// OpenConsumer opens a real-time consumer of the session called name
	// (OpenTraceW). Process hands every event to deliver, on its own
	// thread; the Record is only valid during the call.
	OpenConsumer(name string, deliver func(*Record)) (uint64, error)
	// Process blocks, delivering events, until the session stops or
	// CloseConsumer is called (ProcessTrace).
	Process(consumer uint64) error
	// CloseConsumer makes Process return once the buffers in hand are
	// delivered (CloseTrace). It may be called from deliver; the watcher
	// calls it at most once per consumer.
	CloseConsumer(consumer uint64) error
	// ProcessUser returns the user SID ("S-1-5-21-...") of the primary
	// token of process pid, if that process still runs and was created at
	// created (so a reused pid is not mistaken for it).
	ProcessUser(pid uint32, created uint64) (string, error)
	// LookupAccount resolves a SID to DOMAIN\name (LookupAccountSidW).
	LookupAccount(sid string) (string, error)
	// ProcessLogon returns the logon session the primary token of process
	// pid belongs to (TOKEN_STATISTICS.AuthenticationId, read with
	// GetTokenInformation(TokenStatistics)), if that process still runs
	// and was created at created.
	ProcessLogon(pid uint32, created uint64) (uint64, error)
}

// tokenStatisticsSize is sizeof(TOKEN_STATISTICS): TokenId and
// AuthenticationId (LUIDs), ExpirationTime, TokenType,
// ImpersonationLevel, four DWORD counts and ModifiedId; the same on every
// architecture.
const tokenStatisticsSize = 56

// DecodeTokenStatistics returns the AuthenticationId of a TOKEN_STATISTICS:
// the LUID at bytes 8-16, LowPart then HighPart, little-endian.
func DecodeTokenStatistics(b []byte) (uint64, error) {
	if len(b) < tokenStatisticsSize {
		return 0, fmt.Errorf("TOKEN_STATISTICS: %d bytes, want %d", len(b), tokenStatisticsSize)
	}
	le := binary.LittleEndian
	return uint64(le.Uint32(b[12:16]))<<32 | uint64(le.Uint32(b[8:12])), nil
}

// SessionStats are the counters ETW keeps for a session.
type SessionStats struct {
	EventsLost          uint64 // events the session had no buffer for
	RealTimeBuffersLost uint64 // buffers (64 KiB, hundreds of events) never delivered to the consumer
}

// Record is one event as ProcessTrace delivers it. UserData and SID point
// into ETW's buffer and are only valid during the deliver call.
type Record struct {
	Provider GUID
	ID       uint16
	Version  uint8
	Opcode   uint8 // for MOF events such as RT_LostEvent, the event type
	UserData []byte
	SID      []byte // the EVENT_HEADER_EXT_TYPE_SID extended data item, if any
	// Err is set instead of the fields when the native record could not
	// be read; the watcher ends the session with it.
	Err error
}

// GUID is a Windows GUID in its in-memory layout.
type GUID struct {
	Data1 uint32
	Data2 uint16
	Data3 uint16
	Data4 [8]byte
}

// ParseGUID reads "{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}" (braces
// optional, any case).
func ParseGUID(s string) (GUID, error) {
	t := strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	parts := strings.Split(t, "-")
	if len(parts) != 5 || len(parts[0]) != 8 || len(parts[1]) != 4 || len(parts[2]) != 4 || len(parts[3]) != 4 || len(parts[4]) != 12 {
		return GUID{}, fmt.Errorf("not a GUID: %q", s)
	}
	var g GUID
	hex := func(p string, bits int) (uint64, error) { return strconv.ParseUint(p, 16, bits) }
	d1, err1 := hex(parts[0], 32)
	d2, err2 := hex(parts[1], 16)
	d3, err3 := hex(parts[2], 16)
	d4, err4 := hex(parts[3]+parts[4], 64)
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			return GUID{}, fmt.Errorf("not a GUID: %q", s)
		}
	}
	g.Data1, g.Data2, g.Data3 = uint32(d1), uint16(d2), uint16(d3)
	binary.BigEndian.PutUint64(g.Data4[:], d4)
	return g, nil
}

func mustGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// String renders g as {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}.
func (g GUID) String() string {
	return fmt.Sprintf("{%08X-%04X-%04X-%02X%02X-%X}", g.Data1, g.Data2, g.Data3, g.Data4[0], g.Data4[1], g.Data4[2:])
}

// Providers this package tells apart.
var (
	kernelProcess = mustGUID(Provider)
	// lostEvents is the MOF class of RT_LostEvent notifications
	// (evntrace.h RTLostEventsGuid): event types 32 (events lost), 33
	// (buffers lost) and 34 (the backing file lost).
	lostEvents = mustGUID("{6A399AE0-4BC6-4DE9-870B-3657F8947E7E}")
)

const (
	opRTLostEvent  = 32
	opRTLostBuffer = 33
)

// Windows error codes the lifecycle tells apart. They are syscall.Errno
// values on every platform so the fake can return them.
const (
	errAccessDenied        = syscall.Errno(5)    // ERROR_ACCESS_DENIED
	errNotSupported        = syscall.Errno(50)   // ERROR_NOT_SUPPORTED
	errInvalidParameter    = syscall.Errno(87)   // ERROR_INVALID_PARAMETER
	errAlreadyExists       = syscall.Errno(183)  // ERROR_ALREADY_EXISTS
	errNoSystemResources   = syscall.Errno(1450) // ERROR_NO_SYSTEM_RESOURCES
	errCancelled           = syscall.Errno(1223) // ERROR_CANCELLED
	errWMIInstanceNotFound = syscall.Errno(4201) // ERROR_WMI_INSTANCE_NOT_FOUND: no such session
)

// eventIDFilter is the payload of an EVENT_FILTER_DESCRIPTOR of type
// EVENT_FILTER_TYPE_EVENT_ID: EVENT_FILTER_EVENT_ID{FilterIn: TRUE,
// Reserved: 0, Count, Events[Count]}, packed, little-endian.
func eventIDFilter(ids []uint16) []byte {
	b := []byte{1, 0}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(ids)))
	for _, id := range ids {
		b = binary.LittleEndian.AppendUint16(b, id)
	}
	return b
}
