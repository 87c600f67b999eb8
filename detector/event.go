// Package detector holds the "Execution via TSClient Mountpoint" rule: the
// normalized process-start Event every reader and watcher produces, the
// Detection it becomes, and the matcher. It depends on the standard library
// only, so any agent can embed it.
package detector

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// EventType says what kind of activity an Event records. Only process starts
// can become detections.
type EventType uint8

const (
	// TypeOther is anything that is not a process start (file, registry,
	// network, logon, process end...).
	TypeOther EventType = iota
	// TypeStart is a process start: ECS event.type "start", Sysmon EID 1,
	// Security 4688 or a live exec.
	TypeStart
	// TypeStartLegacy is the pre-ECS-1.x "process_started" event.type that
	// early versions of the Elastic rule also accepted. Strict mode rejects it.
	TypeStartLegacy
)

// String returns the lower-case name of t.
func (t EventType) String() string {
	switch t {
	case TypeStart:
		return "start"
	case TypeStartLegacy:
		return "process_started"
	default:
		return "other"
	}
}

// Host operating systems as ECS host.os.type spells them.
const (
	OSWindows = "windows"
	OSLinux   = "linux"
	OSMacOS   = "macos"
)

// Event is one normalized process activity record. Readers fill what their
// format carries and leave the rest zero.
type Event struct {
	Time             time.Time // when the process started (the event's own time)
	Type             EventType
	PID              int64
	ParentPID        int64
	Executable       string // exactly as the log or kernel wrote it
	CommandLine      string
	WorkingDirectory string
	ParentExecutable string
	User             string // DOMAIN\name, name, or uid when nothing better exists
	Host             string
	// HostOS is ECS host.os.type ("windows", "linux", "macos") as the record
	// declared it or as its source implies (Sysmon and 4688 are Windows);
	// empty when neither says.
	HostOS string
	// Source labels where the record came from: an ECS data stream or
	// module ("endpoint", "windows.sysmon_operational", "system.security",
	// ...), "sysmon", "security", or a live watcher ("ebpf", "etw").
	Source string
	SHA256 string // lower-case hex, empty when unknown
	// Size is the executable's size in bytes as read at execution time
	// (live sources, docs/evidence.md); 0 when unknown. Logs carry none.
	Size int64
	// EvidencePath is the private copy of the executable kept in
	// evidence.dir (named by its SHA-256); empty when none was kept.
	EvidencePath string
	// RecordID is the Windows EventRecordID of the record the event came
	// from (EVTX, event XML, Windows JSON exports, ECS winlog.record_id, the
	// Event Log subscription); 0 when the source has none (live watchers,
	// most ECS). Record ids count up within one channel of one computer.
	RecordID uint64
	// FSType is the type of the filesystem the executable ran from, as
	// /proc/self/mountinfo spells it with the FUSE subtype ("ext4",
	// "fuse.xrdp-chansrv"). Live Linux watchers fill it; empty when
	// unknown (every log format). A known type that is not FUSE rules out
	// the xrdp form: xrdp's client drives are always FUSE mounts.
	FSType string
	// PathTruncated says the watcher could not read the whole path:
	// Executable keeps the start and the end and marks the gap with "…".
	PathTruncated bool

	// Attribution: which logon session and which RDP client the process
	// belongs to (docs/attribution.md). Readers fill what the record
	// itself carries; the session tracker (package session) fills the
	// client of a detection from the logon and session events of the
	// same input set.

	// LogonID is the logon session the process runs in; 0 unknown.
	LogonID LogonID
	// SessionID is the Windows terminal session, or the xrdp display
	// number on Linux; the zero value is unknown.
	SessionID SessionID
	// ClientName and ClientAddress name the RDP client connected to the
	// session when the process started, as the source wrote them
	// ("LOCAL", "-" and loopback addresses are kept; see
	// CanonicalAddress); empty when unknown.
	ClientName    string
	ClientAddress string
	// LogonTime is when the logon session began, in Unix seconds; 0 when
	// no source tells.
	LogonTime int64
	// Attribution says where ClientName and ClientAddress came from (the
	// Attribution* constants); empty when no client is known. A session
	// event carries the name of its own kind ("4624", "4778", "4779",
	// "4634", "4608", "lsm").
	Attribution string
	// SessionChange marks a logon or session event the tracker learns
	// from; SessionNone on every other event.
	SessionChange SessionChange
	// LinkedLogonID is, on a logon event, the other logon of a UAC
	// split-token pair (4624 TargetLinkedLogonId): an administrator's
	// elevated programs run under it. 0 when none.
	LinkedLogonID LogonID

	// Inferred marks the fields above that an ECS reader derived instead of
	// reading them where an ECS query looks. Strict mode reproduces such a
	// query (Elastic's), so it does not match an event with any mark.
	Inferred Inferred
}

// Inferred is a set of Event fields a reader derived from an ECS document
// instead of reading them as an ECS query sees them. Only ECS readers set
// it: raw Windows records (EVTX, event XML, Windows JSON) and live watchers
// have no ECS document, and what they derive (Sysmon 1 and 4688 are Windows
// process starts) is what Elastic's pipeline would have written.
type Inferred uint8

const (
	// InferredHostOS: HostOS is not host.os.type as the document spells it
	// (it came from host.os.family or platform, a type in another spelling,
	// or the data source).
	InferredHostOS Inferred = 1 << iota
	// InferredType: Type is not backed by event.category "process" and
	// event.type spelled exactly as Type.String() (the document lacks one,
	// spells it in another case, or only winlog.event_id says so).
	InferredType
	// InferredExecutable: Executable came from winlog.event_data, not
	// process.executable.
	InferredExecutable
)

// String lists the marks, e.g. "host_os|type"; "" for none.
func (f Inferred) String() string {
	var parts []string
	for _, x := range [...]struct {
		bit  Inferred
		name string
	}{{InferredHostOS, "host_os"}, {InferredType, "type"}, {InferredExecutable, "executable"}} {
		if f&x.bit != 0 {
			parts = append(parts, x.name)
		}
	}
	if rest := f &^ (InferredHostOS | InferredType | InferredExecutable); rest != 0 {
		parts = append(parts, fmt.Sprintf("0x%x", uint8(rest)))
	}
	return strings.Join(parts, "|")
}

// Form is the shape of a path that matched.
type Form string

// The path forms the rule recognizes.
const (
	FormKernel Form = "kernel" // \Device\Mup\tsclient\<share>\...
	FormUNC    Form = "unc"    // \\tsclient\..., \\?\UNC\tsclient\..., \??\UNC\tsclient\...
	FormXrdp   Form = "xrdp"   // .../thinclient_drives/<share>/... (xrdp chansrv FUSE mount)
)

// Detection is an Event that matched the rule, with the fields derived from
// its executable path.
type Detection struct {
	Event
	Form Form
	// ClientDrive is the redirected share: the path component after
	// "tsclient" or after the xrdp mount ("c", "C:", "home"). Empty when the
	// executable sits directly below tsclient.
	ClientDrive string
	// SharePath is the rest of the path inside the share, with its leading
	// separator ("\temp\a.exe", "/tools/a.sh").
	SharePath string
	RuleID    string
}

// Detector turns batches of events into detections. The in-process Matcher
// implements it, and so does the go-plugin client, so callers cannot tell
// where the rule runs.
type Detector interface {
	// Info describes the rule the detector runs.
	Info() Rule
	// Detect appends to out one Detection for every event of batch that
	// matches, in batch order, and returns the extended slice. An error
	// means no verdict was reached for the batch (for example the plugin
	// could not be reached before ctx ended); out is then returned
	// unchanged. The exception is a *PartialError: only the events it
	// lists got no verdict, and out holds the detections among the others.
	Detect(ctx context.Context, batch []Event, out []Detection) ([]Detection, error)
}

// PartialError is returned by Detect when some events of a batch got no
// verdict (one too large to send to a plugin, one a plugin refuses or dies
// on) while every other event was judged: the detections returned with it
// are those verdicts, and callers keep them. One bad event never costs the
// rest of its batch.
type PartialError struct {
	// Unjudged are the indexes, in the batch, of the events without a
	// verdict, in increasing order.
	Unjudged []int
	// Err says why (for several events, why the first failed).
	Err error
}

func (e *PartialError) Error() string {
	if len(e.Unjudged) == 1 {
		return fmt.Sprintf("event %d of the batch got no verdict: %v", e.Unjudged[0], e.Err)
	}
	return fmt.Sprintf("%d events of the batch got no verdict (the first, event %d: %v)", len(e.Unjudged), e.Unjudged[0], e.Err)
}

func (e *PartialError) Unwrap() error { return e.Err }
