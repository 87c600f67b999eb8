// Package wts tells who is connected to a Windows terminal session: the RDP
// client's name and address and when the session's logon began, as
// WTSQuerySessionInformationW (wtsapi32) reports them. golang.org/x/sys/windows
// has neither that call nor the WTS_CLIENT_ADDRESS and WTSINFOW layouts, so
// this package defines them: the call in a thin api_windows.go behind API,
// and the decoding, the per-session cache and the rules here, portable and
// tested on every platform with byte layouts laid out as the SDK documents
// them.
package wts

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// Answers are WTSQuerySessionInformationW's raw buffers for one session.
type Answers struct {
	ClientName    []byte // WTSClientName: a NUL-terminated UTF-16LE string
	ClientAddress []byte // WTSClientAddress: a WTS_CLIENT_ADDRESS
	SessionInfo   []byte // WTSSessionInfo: a WTSINFOW
}

// API queries a terminal session of this host (WTS_CURRENT_SERVER_HANDLE).
// Other users' sessions need the Query Information permission, which
// SYSTEM and administrators have.
type API interface {
	Query(session uint32) (Answers, error)
}

// WTS_INFO_CLASS values (wtsapi32.h).
const (
	ClassClientName    = 10
	ClassClientAddress = 14
	ClassSessionInfo   = 24
)

// WTS_CONNECTSTATE_CLASS values that have a client connected.
const (
	StateActive    = 0 // WTSActive
	StateConnected = 1 // WTSConnected
)

// Address families of WTS_CLIENT_ADDRESS.
const (
	afUnspec = 0
	afInet   = 2
	afInet6  = 23
)

// DecodeClientAddress reads a WTS_CLIENT_ADDRESS { DWORD AddressFamily;
// BYTE Address[20]; }: for AF_INET the IPv4 bytes are offset by two
// (Address[2:6], where a sockaddr_in keeps its port), for AF_INET6 they
// are Address[0:16]. AF_UNSPEC, which RD Gateway and the Store Remote
// Desktop app give, is "" with no error.
func DecodeClientAddress(b []byte) (string, error) {
	if len(b) < 24 {
		return "", fmt.Errorf("WTS_CLIENT_ADDRESS: %d bytes, want 24", len(b))
	}
	a := b[4:24]
	switch fam := binary.LittleEndian.Uint32(b); fam {
	case afUnspec:
		return "", nil
	case afInet:
		return netip.AddrFrom4([4]byte(a[2:6])).String(), nil
	case afInet6:
		return detector.CanonicalAddress(netip.AddrFrom16([16]byte(a[0:16])).String()), nil
	default:
		return "", fmt.Errorf("WTS_CLIENT_ADDRESS: address family %d is not an IP family", fam)
	}
}

// DecodeClientName reads WTSClientName's NUL-terminated UTF-16LE string.
func DecodeClientName(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return strings.TrimSpace(string(utf16.Decode(u)))
}

// Info is the part of a WTSINFOW attribution reads.
type Info struct {
	State       uint32    // WTS_CONNECTSTATE_CLASS
	SessionID   uint32    // the session the answer is about
	ConnectTime time.Time // "the most recent client connection"; zero when none
	LogonTime   time.Time // when the session's logon began; zero when none
}

// wtsinfoSize is sizeof(WTSINFOW): eight DWORDs, WinStationName[32],
// Domain[17] and UserName[21] WCHARs (172 bytes), padded to 176 for the
// five LARGE_INTEGER times: ConnectTime, DisconnectTime, LastInputTime,
// LogonTime, CurrentTime.
const (
	wtsinfoSize    = 216
	offConnectTime = 176
	offLogonTime   = 200
)

// DecodeSessionInfo reads a WTSINFOW.
func DecodeSessionInfo(b []byte) (Info, error) {
	if len(b) < wtsinfoSize {
		return Info{}, fmt.Errorf("WTSINFOW: %d bytes, want %d", len(b), wtsinfoSize)
	}
	le := binary.LittleEndian
	return Info{
		State:       le.Uint32(b[0:]),
		SessionID:   le.Uint32(b[4:]),
		ConnectTime: filetime(le.Uint64(b[offConnectTime:])),
		LogonTime:   filetime(le.Uint64(b[offLogonTime:])),
	}, nil
}

// filetime converts a FILETIME (100 ns since 1601) to a time; 0, and
// anything before 1970, is no time.
func filetime(ft uint64) time.Time {
	const unixEpoch = 116444736000000000
	if ft <= unixEpoch {
		return time.Time{}
	}
	d := ft - unixEpoch
	return time.Unix(int64(d/1e7), int64(d%1e7)*100).UTC()
}

// Client is who is connected to a session.
type Client struct {
	Name, Address string
	Info          Info
}

// Defaults of a Cache.
const (
	DefaultTTL = time.Second // how long an answer is reused: a reconnect shows within it
	maxCached  = 1024        // sessions remembered; the cache starts over past it
)

// Cache asks API once per session and TTL. A reconnect gives the session a
// new ConnectTime, and the next query after the TTL picks it up; a process
// that started before the client now connected connected is not given it.
type Cache struct {
	api API
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[uint32]entry
}

type entry struct {
	c       Client
	err     error
	fetched time.Time
}

// NewCache returns a cache over api; ttl 0 means DefaultTTL, now nil the
// wall clock.
func NewCache(api API, ttl time.Duration, now func() time.Time) *Cache {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Cache{api: api, ttl: ttl, now: now, entries: make(map[uint32]entry)}
}

// ErrNoClient means the session has no client connected (disconnected, the
// console without one, a listener).
var ErrNoClient = errors.New("no client connected to the session")

// Lookup returns the client of session now (within the TTL).
func (c *Cache) Lookup(session uint32) (Client, error) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[session]; ok && now.Sub(e.fetched) < c.ttl && !now.Before(e.fetched) {
		return e.c, e.err
	}
	cl, err := c.query(session)
	if len(c.entries) >= maxCached {
		clear(c.entries)
	}
	c.entries[session] = entry{c: cl, err: err, fetched: now}
	return cl, err
}

func (c *Cache) query(session uint32) (Client, error) {
	a, err := c.api.Query(session)
	if err != nil {
		return Client{}, fmt.Errorf("session %d: %w", session, err)
	}
	info, err := DecodeSessionInfo(a.SessionInfo)
	if err != nil {
		return Client{}, fmt.Errorf("session %d: %w", session, err)
	}
	cl := Client{Info: info, Name: DecodeClientName(a.ClientName)}
	if info.State != StateActive && info.State != StateConnected {
		return cl, ErrNoClient
	}
	if cl.Address, err = DecodeClientAddress(a.ClientAddress); err != nil {
		return cl, fmt.Errorf("session %d: %w", session, err)
	}
	return cl, nil
}

// Attribute fills ev's client and logon time from its terminal session
// (ev.SessionID), unless ev already names a client. The client must have
// connected at or before the process started: one that connected later
// (a reconnect between the start and the lookup) was not the client then.
// It reports whether it named a client.
func (c *Cache) Attribute(ev *detector.Event) bool {
	id, ok := ev.SessionID.Get()
	if !ok || ev.ClientName != "" || ev.ClientAddress != "" {
		return false
	}
	cl, err := c.Lookup(id)
	if ev.LogonTime == 0 && !cl.Info.LogonTime.IsZero() && (ev.Time.IsZero() || !cl.Info.LogonTime.After(ev.Time)) {
		ev.LogonTime = cl.Info.LogonTime.Unix()
	}
	if err != nil || (cl.Name == "" && cl.Address == "") {
		return false
	}
	if !ev.Time.IsZero() && cl.Info.ConnectTime.After(ev.Time) {
		return false
	}
	ev.ClientName, ev.ClientAddress, ev.Attribution = cl.Name, cl.Address, detector.AttributionWTS
	return true
}
