// Package winevent maps a Windows event record (System fields plus
// EventData) to a detector.Event. The EVTX, event XML and JSON-export
// readers, and the Windows Event Log watcher, all decode into Record and
// share this one mapping.
package winevent

import (
	"strconv"
	"strings"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// Channels and providers of the two process-start events the rule reads.
const (
	ChannelSysmon    = "Microsoft-Windows-Sysmon/Operational"
	ChannelSecurity  = "Security"
	ProviderSysmon   = "Microsoft-Windows-Sysmon"
	ProviderSecurity = "Microsoft-Windows-Security-Auditing"
)

// Record is one Windows event: the System header fields the mapping needs
// and EventData as name/value pairs.
type Record struct {
	Provider string
	Channel  string
	EventID  int
	Computer string
	Time     time.Time // System/TimeCreated/@SystemTime
	RecordID uint64
	// Number is the record's number in its EVTX file (the record header's
	// id), 0 when the record did not come from an EVTX file. It equals
	// RecordID in a log written on its own host, but in a forwarded or
	// collected log RecordID is each source host's and neither unique nor
	// increasing within the file, while Number always increases.
	Number uint64
	// UserSID is System/Security/@UserID, used only when EventData names no user.
	UserSID string
	Data    map[string]string
}

// IsSysmon reports whether r was written by Sysmon.
func (r *Record) IsSysmon() bool {
	return strings.EqualFold(r.Provider, ProviderSysmon) || strings.EqualFold(r.Channel, ChannelSysmon)
}

// IsSecurity reports whether r is from the Security log.
func (r *Record) IsSecurity() bool {
	return strings.EqualFold(r.Provider, ProviderSecurity) || strings.EqualFold(r.Channel, ChannelSecurity)
}

// Event fills ev from r. Sysmon EID 1 and Security 4688 become process
// starts; every other record becomes a TypeOther event (with Image, when it
// has one) so callers can count it, and the rule never fires on it.
func (r *Record) Event(ev *detector.Event) {
	*ev = detector.Event{
		Time:     r.Time,
		Host:     r.Computer,
		Source:   r.Channel,
		RecordID: r.RecordID,
	}
	if ev.Source == "" {
		ev.Source = r.Provider
	}
	d := r.Data
	switch {
	case r.IsSysmon():
		ev.HostOS = detector.OSWindows
		ev.Executable = d["Image"]
		ev.PID = parseInt(d["ProcessId"])
		if r.EventID != 1 {
			return
		}
		ev.Type = detector.TypeStart
		ev.CommandLine = d["CommandLine"]
		ev.WorkingDirectory = d["CurrentDirectory"]
		ev.User = d["User"]
		ev.ParentPID = parseInt(d["ParentProcessId"])
		ev.ParentExecutable = d["ParentImage"]
		ev.SHA256 = SHA256FromHashes(d["Hashes"])
		// UtcTime is the process creation time; TimeCreated is when Sysmon
		// logged it. Prefer the former when it parses.
		if t, ok := parseSysmonTime(d["UtcTime"]); ok {
			ev.Time = t
		}
	case r.IsSecurity() && r.EventID == 4688:
		ev.HostOS = detector.OSWindows
		ev.Type = detector.TypeStart
		ev.Executable = d["NewProcessName"]
		ev.PID = parseInt(d["NewProcessId"])
		ev.ParentPID = parseInt(d["ProcessId"])
		ev.ParentExecutable = d["ParentProcessName"]
		ev.CommandLine = d["CommandLine"]
		ev.User = joinUser(d["SubjectDomainName"], d["SubjectUserName"])
	default:
		if img := d["Image"]; img != "" {
			ev.Executable = img
		}
		r.Attribute(ev)
		return
	}
	if ev.User == "" {
		ev.User = r.UserSID
	}
	r.Attribute(ev)
}

// joinUser renders DOMAIN\name, leaving out the "-" placeholders Windows
// writes for missing values.
func joinUser(domain, name string) string {
	if name == "" || name == "-" {
		return ""
	}
	if domain == "" || domain == "-" {
		return name
	}
	return domain + `\` + name
}

// parseInt reads decimal or 0x-prefixed hexadecimal (4688 writes process ids
// in hex). Unparseable values become 0.
func parseInt(s string) int64 {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		v, err := strconv.ParseUint(s[2:], 16, 64)
		if err != nil {
			return 0
		}
		return int64(v)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// ParseInt is parseInt for other packages that read Windows-style numbers.
func ParseInt(s string) int64 { return parseInt(s) }

// SHA256FromHashes extracts the SHA256 value from Sysmon's Hashes field
// ("SHA1=...,MD5=...,SHA256=...,IMPHASH=..."), lower-cased.
func SHA256FromHashes(h string) string {
	for h != "" {
		var part string
		part, h, _ = strings.Cut(h, ",")
		k, v, ok := strings.Cut(part, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "SHA256") {
			return strings.ToLower(strings.TrimSpace(v))
		}
	}
	return ""
}

func parseSysmonTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", s, time.UTC)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}
