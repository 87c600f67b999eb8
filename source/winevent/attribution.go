package winevent

import (
	"encoding/binary"
	"strings"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// Channel and provider of the Remote Desktop session events attribution
// reads (LocalSessionManager 21 logon, 23 logoff, 24 disconnect, 25
// reconnect).
const (
	ChannelLSM  = "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational"
	ProviderLSM = "Microsoft-Windows-TerminalServices-LocalSessionManager"
)

// IsLSM reports whether r was written by the TerminalServices
// LocalSessionManager.
func (r *Record) IsLSM() bool {
	return strings.EqualFold(r.Provider, ProviderLSM) || strings.EqualFold(r.Channel, ChannelLSM)
}

// Attribute fills ev's attribution fields from r alone: for a process
// start (Sysmon 1, 4688) its logon session, terminal session and logon
// time; for a logon or session event what it says about who connected
// (detector.SessionChange and the fields the session tracker reads).
// Record.Event calls it; the ECS mapping calls it on a Record it builds
// from winlog.event_data.
func (r *Record) Attribute(ev *detector.Event) {
	d := r.Data
	switch {
	case r.IsSysmon():
		if r.EventID != 1 {
			return
		}
		ev.LogonID, _ = detector.ParseLogonID(d["LogonId"])
		ev.SessionID, _ = detector.ParseSessionID(d["TerminalSessionId"])
		if t, ok := LogonGUIDTime(d["LogonGuid"], ev.LogonID); ok && (ev.Time.IsZero() || t <= ev.Time.Unix()+1) {
			// A logon cannot begin after a process in it starts: a
			// later time is a GUID of another layout.
			ev.LogonTime = t
		}
	case r.IsSecurity():
		r.security(ev)
	case r.IsLSM():
		r.lsm(ev)
	}
}

// security maps the Security events attribution reads.
func (r *Record) security(ev *detector.Event) {
	d := r.Data
	switch r.EventID {
	case 4688:
		// TargetLogonId is the new process's logon when creator and
		// target differ (Windows 10 and later); it is 0x0 otherwise,
		// and absent before version 2, and then the process runs in the
		// creator's logon.
		if id, _ := detector.ParseLogonID(d["TargetLogonId"]); id != 0 {
			ev.LogonID = id
		} else {
			ev.LogonID, _ = detector.ParseLogonID(d["SubjectLogonId"])
		}
	case 4624:
		// Only remote interactive logons own the processes of an RDP
		// session. NLA's type 3 logon comes first with another id, and
		// a reconnect's type 7 or 11 logons own nothing: the session's
		// processes keep the original logon, which 4778 names.
		if !remoteInteractive(d["LogonType"]) {
			return
		}
		id, _ := detector.ParseLogonID(d["TargetLogonId"])
		if id == 0 {
			return
		}
		ev.SessionChange = detector.SessionLogon
		ev.Attribution = detector.Attribution4624
		ev.LogonID = id
		ev.LinkedLogonID, _ = detector.ParseLogonID(d["TargetLinkedLogonId"])
		ev.ClientAddress = detector.CanonicalAddress(d["IpAddress"])
		ev.ClientName = clientWorkstation(d["WorkstationName"], r.Computer)
		if !r.Time.IsZero() {
			ev.LogonTime = r.Time.Unix()
		}
		setUser(ev, d["TargetDomainName"], d["TargetUserName"])
	case 4778, 4779:
		id, _ := detector.ParseLogonID(d["LogonID"])
		if id == 0 {
			return
		}
		ev.SessionChange, ev.Attribution = detector.SessionReconnect, detector.Attribution4778
		if r.EventID == 4779 {
			ev.SessionChange, ev.Attribution = detector.SessionDisconnect, "4779"
		}
		ev.LogonID = id
		ev.ClientName = placeholder(d["ClientName"])
		ev.ClientAddress = detector.CanonicalAddress(d["ClientAddress"])
		setUser(ev, d["AccountDomain"], d["AccountName"])
	case 4634:
		if !remoteInteractive(d["LogonType"]) {
			return
		}
		if id, _ := detector.ParseLogonID(d["TargetLogonId"]); id != 0 {
			ev.SessionChange, ev.Attribution, ev.LogonID = detector.SessionLogoff, "4634", id
			setUser(ev, d["TargetDomainName"], d["TargetUserName"])
		}
	case 4608:
		ev.SessionChange, ev.Attribution = detector.SessionBoot, "4608"
	}
}

// lsm maps LocalSessionManager 21, 23, 24 and 25, which name the terminal
// session and, except 23, the client address ("LOCAL" for the console).
func (r *Record) lsm(ev *detector.Event) {
	var change detector.SessionChange
	switch r.EventID {
	case 21:
		change = detector.SessionLogon
	case 23:
		change = detector.SessionLogoff
	case 24:
		change = detector.SessionDisconnect
	case 25:
		change = detector.SessionReconnect
	default:
		return
	}
	sid, ok := detector.ParseSessionID(r.Data["SessionID"])
	if !ok {
		return
	}
	ev.SessionChange, ev.Attribution, ev.SessionID = change, detector.AttributionLSM, sid
	ev.ClientAddress = detector.CanonicalAddress(r.Data["Address"])
	if change == detector.SessionLogon && !r.Time.IsZero() {
		ev.LogonTime = r.Time.Unix()
	}
	if ev.User == "" {
		ev.User = r.Data["User"]
	}
}

// remoteInteractive reports whether a 4624 / 4634 LogonType is 10
// (RemoteInteractive) or 12 (CachedRemoteInteractive).
func remoteInteractive(t string) bool {
	t = strings.TrimSpace(t)
	return t == "10" || t == "12"
}

// clientWorkstation returns a type 10 logon's WorkstationName as the
// client's name, unless it is the host's own name: Windows writes the
// server's name there on many builds (seen in real tunnelled logons), and
// the client's name then comes from 4778 or the live WTS query instead.
func clientWorkstation(ws, computer string) string {
	ws = placeholder(ws)
	if ws == "" {
		return ""
	}
	self, _, _ := strings.Cut(computer, ".")
	name, _, _ := strings.Cut(ws, ".")
	if self != "" && strings.EqualFold(self, name) {
		return ""
	}
	return ws
}

// placeholder returns s trimmed, or "" for Windows' "-" placeholder.
func placeholder(s string) string {
	s = strings.TrimSpace(s)
	if s == "-" {
		return ""
	}
	return s
}

// setUser sets ev.User to DOMAIN\name unless a user is already known.
func setUser(ev *detector.Event, domain, name string) {
	if ev.User == "" {
		ev.User = joinUser(domain, name)
	}
}

// LogonGUID is what a Sysmon LogonGuid embeds. The layout is
// undocumented: the GUID's little-endian bytes hold the truncated machine
// GUID in [0:4], the logon time (Unix seconds) in [4:8], and the logon id
// either as high dword | 0x20000000 in [8:12] and low dword in [12:16], or
// (newer Sysmon) as low dword in [8:12] and zero in [12:16].
type LogonGUID struct {
	Time int64 // the embedded logon time, Unix seconds (0 or less: none)
	ids  [2]detector.LogonID
}

// ParseLogonGUID decodes a LogonGuid in either spelling:
// "{747f3d96-94cd-5f07-0000-0020abbf0300}" (the XML) or
// "747F3D96-94CD-5F07-0000-0020ABBF0300" (decoded EVTX).
func ParseLogonGUID(s string) (LogonGUID, bool) {
	b, ok := guidBytes(s)
	if !ok {
		return LogonGUID{}, false
	}
	le := binary.LittleEndian
	hi, lo := le.Uint32(b[8:12]), le.Uint32(b[12:16])
	g := LogonGUID{Time: int64(int32(le.Uint32(b[4:8])))}
	g.ids[0] = detector.LogonID(uint64(hi&^0x20000000)<<32 | uint64(lo))
	if lo == 0 {
		g.ids[1] = detector.LogonID(hi)
	}
	return g, true
}

// Embeds reports whether the GUID carries logon id id, in either layout.
func (g LogonGUID) Embeds(id detector.LogonID) bool {
	return id != 0 && (g.ids[0] == id || g.ids[1] == id)
}

// LogonGUIDTime returns the logon time a LogonGuid carries (Unix seconds)
// only when the GUID also carries logon, the event's LogonId: a GUID that
// does not name its own logon is not trusted.
func LogonGUIDTime(guid string, logon detector.LogonID) (int64, bool) {
	g, ok := ParseLogonGUID(guid)
	if !ok || !g.Embeds(logon) || g.Time <= 0 {
		return 0, false
	}
	return g.Time, true
}

// guidBytes returns the in-memory (little-endian) bytes of a GUID written
// as XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX, with or without braces.
func guidBytes(s string) (b [16]byte, ok bool) {
	s = strings.TrimSpace(s)
	if len(s) == 38 && s[0] == '{' && s[37] == '}' {
		s = s[1:37]
	}
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return b, false
	}
	// The text's byte order; Data1, Data2 and Data3 are integers stored
	// little-endian, Data4 is bytes in order.
	var raw [16]byte
	i := 0
	for p := 0; p < len(s); p += 2 {
		if s[p] == '-' {
			p--
			continue
		}
		hi, ok1 := unhex(s[p])
		lo, ok2 := unhex(s[p+1])
		if !ok1 || !ok2 {
			return b, false
		}
		raw[i] = hi<<4 | lo
		i++
	}
	b[0], b[1], b[2], b[3] = raw[3], raw[2], raw[1], raw[0]
	b[4], b[5] = raw[5], raw[4]
	b[6], b[7] = raw[7], raw[6]
	copy(b[8:], raw[8:])
	return b, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c|0x20 && c|0x20 <= 'f':
		return c | 0x20 - 'a' + 10, true
	}
	return 0, false
}
