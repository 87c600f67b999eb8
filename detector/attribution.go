package detector

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// LogonID is a Windows logon session identifier: the LUID Windows assigns
// at logon (Sysmon LogonId, Security SubjectLogonId / TargetLogonId /
// LogonID, Elastic Defend process.Ext.authentication_id, the token's
// AuthenticationId). 0 means unknown: no logon session has LUID 0, and
// 4688 writes 0x0 for "no target logon".
type LogonID uint64

// ParseLogonID reads a logon id the way sources write it: 0x-prefixed
// hexadecimal in either case, zero-padded or not ("0x6a423",
// "0x000000000006A423"), or decimal (Defender for Endpoint, decoded EVTX
// values). Blanks around it are ignored. ok is false for anything else,
// the empty string included; "0x0" parses to 0 with ok true. It takes
// bytes as well as strings, so readers parse JSON values in place.
func ParseLogonID[T ~string | ~[]byte](s T) (id LogonID, ok bool) {
	n, ok := parseUint(s, 64)
	return LogonID(n), ok
}

// parseUint reads decimal or 0x-hexadecimal digits (blanks around them
// ignored) into at most bits bits, without allocating.
func parseUint[T ~string | ~[]byte](s T, bits uint) (uint64, bool) {
	i, j := 0, len(s)
	for i < j && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	for j > i && (s[j-1] == ' ' || s[j-1] == '\t' || s[j-1] == '\r' || s[j-1] == '\n') {
		j--
	}
	base := uint64(10)
	if j-i > 2 && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') {
		i, base = i+2, 16
	}
	if i == j {
		return 0, false
	}
	var n uint64
	max := uint64(1)<<bits - 1
	if bits == 64 {
		max = 1<<64 - 1
	}
	for ; i < j; i++ {
		c := s[i]
		var d uint64
		switch {
		case '0' <= c && c <= '9':
			d = uint64(c - '0')
		case base == 16 && 'a' <= c|0x20 && c|0x20 <= 'f':
			d = uint64(c|0x20-'a') + 10
		default:
			return 0, false
		}
		if n > (max-d)/base {
			return 0, false // overflow
		}
		n = n*base + d
	}
	return n, true
}

// String renders the canonical form: lower-case hexadecimal with 0x and no
// leading zeros ("0x6a423"), or "" for 0 (unknown).
func (l LogonID) String() string {
	if l == 0 {
		return ""
	}
	return "0x" + strconv.FormatUint(uint64(l), 16)
}

// SessionID is a Windows terminal session id, or on Linux the X display
// number of an xrdp session, or unknown. Session 0 is real (Windows
// services run in it), so a plain integer could not tell it from "not
// known": the zero SessionID is unknown, and only SessionOf and
// ParseSessionID make a known one.
type SessionID struct {
	id    uint32
	known bool
}

// SessionOf returns the known session id.
func SessionOf(id uint32) SessionID { return SessionID{id: id, known: true} }

// ParseSessionID reads a session id written in decimal (Sysmon
// TerminalSessionId, LocalSessionManager SessionID) or 0x-hexadecimal.
// ok is false, and the result unknown, for anything else or a value
// beyond 32 bits (Windows session ids are DWORDs).
func ParseSessionID[T ~string | ~[]byte](s T) (SessionID, bool) {
	n, ok := parseUint(s, 32)
	if !ok {
		return SessionID{}, false
	}
	return SessionOf(uint32(n)), true
}

// Get returns the id and whether it is known.
func (s SessionID) Get() (uint32, bool) { return s.id, s.known }

// Known reports whether the session id is known.
func (s SessionID) Known() bool { return s.known }

// String renders a known id in decimal, unknown as "".
func (s SessionID) String() string {
	if !s.known {
		return ""
	}
	return strconv.FormatUint(uint64(s.id), 10)
}

// MarshalBinary encodes s for gob and other binary encoders (its fields are
// unexported): no bytes for unknown, the id as 4 little-endian bytes.
func (s SessionID) MarshalBinary() ([]byte, error) {
	if !s.known {
		return []byte{}, nil
	}
	return binary.LittleEndian.AppendUint32(nil, s.id), nil
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (s *SessionID) UnmarshalBinary(b []byte) error {
	switch len(b) {
	case 0:
		*s = SessionID{}
	case 4:
		*s = SessionOf(binary.LittleEndian.Uint32(b))
	default:
		return fmt.Errorf("session id: %d bytes, want 0 or 4", len(b))
	}
	return nil
}

// SessionChange says what a logon or session event records. The session
// tracker (package session) learns who is connected to which logon and
// session from these; every other event, process starts included, has
// SessionNone.
type SessionChange uint8

const (
	// SessionNone: not a logon or session event.
	SessionNone SessionChange = iota
	// SessionLogon: a remote interactive logon began, with the client
	// it came from (4624 logon type 10 or 12; LocalSessionManager 21).
	SessionLogon
	// SessionReconnect: a client reconnected to an existing logon or
	// session, and from now on owns it (4778; LocalSessionManager 25).
	SessionReconnect
	// SessionDisconnect: the client went away; the logon lives on
	// without one (4779; LocalSessionManager 24).
	SessionDisconnect
	// SessionLogoff: the logon or session ended (4634 of a type 10 or 12
	// logon; LocalSessionManager 23).
	SessionLogoff
	// SessionBoot: the host started (4608). Logon and session ids are
	// reused across boots, so nothing before it applies after it.
	SessionBoot
)

// String returns the change's lower-case name.
func (c SessionChange) String() string {
	switch c {
	case SessionLogon:
		return "logon"
	case SessionReconnect:
		return "reconnect"
	case SessionDisconnect:
		return "disconnect"
	case SessionLogoff:
		return "logoff"
	case SessionBoot:
		return "boot"
	}
	return "none"
}

// Connects reports whether the change brings a client: a logon or a
// reconnect.
func (c SessionChange) Connects() bool { return c == SessionLogon || c == SessionReconnect }

// Values of Event.Attribution: where the client fields came from.
const (
	AttributionEvent = "event" // the process event itself (Elastic Defend session_info)
	Attribution4624  = "4624"  // Security 4624, logon type 10 or 12
	Attribution4778  = "4778"  // Security 4778, session reconnected
	AttributionLSM   = "lsm"   // TerminalServices-LocalSessionManager 21 or 25
	AttributionWTS   = "wts"   // live Windows: WTSQuerySessionInformation
	AttributionXrdp  = "xrdp"  // live Linux: xrdp's utmp record or sesman log
)

// CanonicalAddress returns a client address as a source wrote it, with
// blanks trimmed and an IPv4-mapped IPv6 address ("::ffff:10.1.2.3", as
// 4778 and xrdp write IPv4 clients) in its IPv4 form, so one client reads
// the same whatever the source. Everything else is kept as written:
// "LOCAL", "-", loopback addresses (a tunnel) and text that is no address
// say something about the connection and are not replaced.
func CanonicalAddress(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 7 && strings.HasPrefix(strings.ToLower(s), "::ffff:") {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4In6() {
			return a.Unmap().String()
		}
	}
	return s
}
