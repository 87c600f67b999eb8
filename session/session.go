// Package session tracks Windows logon sessions, terminal sessions and the
// RDP clients connected to them, and answers "who was connected to logon L
// (or terminal session S) of host H at time T".
//
// It learns from logon and session events (detector.Event with a
// SessionChange: 4624 type 10/12, 4778, 4779, 4634, 4608, LocalSessionManager
// 21/23/24/25, as source/winevent and source/ecs map them) and knows
// nothing about files or operating systems: readers and collectors feed it,
// and scan and the collector ask it to attribute detections. Events may
// arrive in any order (a scan reads Security.evtx and Sysmon.evtx in
// whatever order the directory lists them); answers depend only on the set
// of events held.
//
// The rules (docs/attribution.md):
//   - The client of logon L at time T is the one named by the latest
//     logon or reconnect event of L (or of the logon linked to L by a UAC
//     split token) at or before T. Before the first such event it is
//     unknown, even if a later event names one. A disconnect or logoff
//     after it ends that client's tenure: unknown again.
//   - The same holds for terminal session S with LocalSessionManager
//     events. Session ids are reused after logoff: a logoff ends the
//     session's tenure, and when the process event carries its logon's
//     start (Sysmon's LogonGuid, Defend), events of S or L from before
//     it are another logon's.
//   - When both say something, the later event wins (a reconnect moves
//     the session to a new client).
//   - Logon and session ids are reused across boots: nothing before the
//     host's latest 4608 at or before T applies.
//
// Memory is bounded: the tracker keeps session events only (process
// starts never enter it), at most Options.MaxEvents of them. Past the cap
// it drops the oldest tenth by event time and remembers how far it
// dropped (Stats.Horizon). Dropping the oldest events never makes an
// answer wrong, only unknown: any event that could have been the latest
// before T is older than every event that survives.
package session

import (
	"slices"
	"strings"
	"sync"
	"time"
	"unique"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// DefaultMaxEvents is the default Options.MaxEvents. Only remote logons,
// reconnects, disconnects, their logoffs, boots and LocalSessionManager
// events count, so even a busy Remote Desktop server logs far fewer in the
// time its logs cover; at about 150 bytes each the cap holds the tracker
// to some 15 MB.
const DefaultMaxEvents = 100_000

// LogonSlack is how long before a logon's known start time its own events
// may be stamped: LSA records the logon time a moment before Security
// writes the 4624 and LocalSessionManager its 21, on the same clock.
const LogonSlack = time.Minute

// Options configure a Tracker.
type Options struct {
	// MaxEvents caps the session events held; 0 or less means
	// DefaultMaxEvents.
	MaxEvents int
}

// Tracker holds session events and answers lookups. It is safe for
// concurrent use. The zero value is not usable: call New.
type Tracker struct {
	max int

	mu        sync.Mutex
	byLogon   map[key][]entry
	bySession map[key][]entry
	boots     map[string][]int64 // host -> boot times (Unix ns), sorted
	// linkedBy maps a logon to the logons whose 4624 names it as their
	// TargetLinkedLogonId: the other half of a split-token pair, found
	// even when its own 4624 is missing.
	linkedBy map[key][]detector.LogonID
	n        int
	horizon  int64 // events before this (Unix ns) were dropped at the cap
	dropped  uint64
}

// key names a logon or a terminal session of one host.
type key struct {
	host string
	id   uint64
}

// entry is one session event, as much of it as lookups need.
type entry struct {
	t      int64  // event time, Unix ns
	seq    uint64 // the record id: orders events of the same instant
	change detector.SessionChange
	linked detector.LogonID
	name   unique.Handle[string]
	addr   unique.Handle[string]
	label  unique.Handle[string]
}

func (a entry) before(b entry) bool { return a.t < b.t || (a.t == b.t && a.seq < b.seq) }

// same reports whether a and b say the same thing at the same instant: the
// same record read twice (a scan's two passes, overlapping exports).
func (a entry) same(b entry) bool {
	return a.t == b.t && a.change == b.change && a.linked == b.linked && a.name == b.name && a.addr == b.addr && a.label == b.label
}

// New returns an empty tracker.
func New(opts Options) *Tracker {
	max := opts.MaxEvents
	if max <= 0 {
		max = DefaultMaxEvents
	}
	return &Tracker{
		max:       max,
		byLogon:   make(map[key][]entry),
		bySession: make(map[key][]entry),
		boots:     make(map[string][]int64),
		linkedBy:  make(map[key][]detector.LogonID),
	}
}

// HostKey is how hosts are compared: case-insensitively and by the first
// label of a DNS name, so Sysmon's "WS1.corp.example" and an ECS
// document's "ws1" are one host. Addresses are kept whole.
func HostKey(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if i := strings.IndexByte(h, '.'); i > 0 && !isAddress(h) {
		h = h[:i]
	}
	return h
}

// isAddress reports whether h looks like an IPv4 address (all digits and
// dots); IPv6 addresses have no dot before their end and stay whole anyway.
func isAddress(h string) bool {
	for i := range len(h) {
		if c := h[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Add stores a session event; anything else (process starts included) is
// ignored. It reports whether ev was stored: false also for a session
// event without the id it needs, without a time, or already held.
func (t *Tracker) Add(ev *detector.Event) bool {
	if ev.SessionChange == detector.SessionNone || ev.Time.IsZero() {
		return false
	}
	host := HostKey(ev.Host)
	e := entry{
		t:      ev.Time.UnixNano(),
		seq:    ev.RecordID,
		change: ev.SessionChange,
		linked: ev.LinkedLogonID,
		name:   unique.Make(ev.ClientName),
		addr:   unique.Make(ev.ClientAddress),
		label:  unique.Make(ev.Attribution),
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.t < t.horizon {
		return false // older than what the cap already dropped
	}
	var stored bool
	switch {
	case ev.SessionChange == detector.SessionBoot:
		b := t.boots[host]
		i, found := slices.BinarySearch(b, e.t)
		if !found {
			t.boots[host] = slices.Insert(b, i, e.t)
			stored = true
		}
	case ev.LogonID != 0:
		k := key{host, uint64(ev.LogonID)}
		if stored = insert(t.byLogon, k, e); stored && e.linked != 0 {
			lk := key{host, uint64(e.linked)}
			if !slices.Contains(t.linkedBy[lk], ev.LogonID) {
				t.linkedBy[lk] = append(t.linkedBy[lk], ev.LogonID)
			}
		}
	case ev.SessionID.Known():
		id, _ := ev.SessionID.Get()
		stored = insert(t.bySession, key{host, uint64(id)}, e)
	}
	if stored {
		t.n++
		if t.n > t.max {
			t.shrink()
		}
	}
	return stored
}

// insert puts e into m[k] in time order unless the same event is there.
func insert(m map[key][]entry, k key, e entry) bool {
	s := m[k]
	i, _ := slices.BinarySearchFunc(s, e, func(x, y entry) int {
		switch {
		case x.before(y):
			return -1
		case y.before(x):
			return 1
		}
		return 0
	})
	for j := i; j < len(s) && s[j].t == e.t; j++ {
		if s[j].same(e) {
			return false
		}
	}
	for j := i - 1; j >= 0 && s[j].t == e.t; j-- {
		if s[j].same(e) {
			return false
		}
	}
	m[k] = slices.Insert(s, i, e)
	return true
}

// shrink drops the oldest tenth of the events (at least one), by time.
func (t *Tracker) shrink() {
	times := make([]int64, 0, t.n)
	for _, s := range t.byLogon {
		for _, e := range s {
			times = append(times, e.t)
		}
	}
	for _, s := range t.bySession {
		for _, e := range s {
			times = append(times, e.t)
		}
	}
	for _, b := range t.boots {
		times = append(times, b...)
	}
	slices.Sort(times)
	cut := times[max(len(times)/10, 1)-1] + 1 // drop everything at or before this instant
	t.horizon = max(t.horizon, cut)
	before := t.n
	t.n = 0
	for _, m := range []map[key][]entry{t.byLogon, t.bySession} {
		for k, s := range m {
			i := 0
			for i < len(s) && s[i].t < cut {
				i++
			}
			if i == len(s) {
				delete(m, k)
				continue
			}
			m[k] = slices.Clone(s[i:])
			t.n += len(s) - i
		}
	}
	for h, b := range t.boots {
		i, _ := slices.BinarySearch(b, cut)
		if i == len(b) {
			delete(t.boots, h)
			continue
		}
		t.boots[h] = slices.Clone(b[i:])
		t.n += len(b) - i
	}
	t.dropped += uint64(before - t.n)
	// Rebuild the link index from what is left.
	clear(t.linkedBy)
	for k, s := range t.byLogon {
		for _, e := range s {
			if e.linked != 0 {
				lk := key{k.host, uint64(e.linked)}
				if !slices.Contains(t.linkedBy[lk], detector.LogonID(k.id)) {
					t.linkedBy[lk] = append(t.linkedBy[lk], detector.LogonID(k.id))
				}
			}
		}
	}
}

// Query asks who was connected to a logon or terminal session at a time.
type Query struct {
	Host    string
	Logon   detector.LogonID   // 0: ask by session only
	Session detector.SessionID // unknown: ask by logon only
	Time    time.Time          // when the process started
	// LogonTime, when known from the process event (Unix seconds), bounds
	// which events belong to this logon: events more than LogonSlack
	// before it are from an earlier use of the same ids.
	LogonTime int64
}

// Client is the answer to a Query.
type Client struct {
	// Name and Address are the client connected at the time, as the
	// event that says so wrote them; both empty when none is known.
	Name, Address string
	// Attribution is that event's kind ("4624", "4778", "lsm"); empty
	// when no client is known.
	Attribution string
	// LogonTime is when the logon began (Unix seconds), from its 4624 or
	// LocalSessionManager 21; 0 when neither was seen.
	LogonTime int64
}

// Connected reports whether the answer names a client.
func (c Client) Connected() bool { return c.Attribution != "" }

// Lookup answers q from the events held.
func (t *Tracker) Lookup(q Query) Client {
	if q.Time.IsZero() || (q.Logon == 0 && !q.Session.Known()) {
		return Client{}
	}
	at := q.Time.UnixNano()
	host := HostKey(q.Host)
	t.mu.Lock()
	defer t.mu.Unlock()

	epoch := int64(-1 << 63)
	if b := t.boots[host]; len(b) > 0 {
		if i, _ := slices.BinarySearch(b, at+1); i > 0 {
			epoch = b[i-1]
		}
	}
	if q.LogonTime > 0 {
		epoch = max(epoch, time.Unix(q.LogonTime, 0).Add(-LogonSlack).UnixNano())
	}

	var best entry
	var found bool
	consider := func(e entry) {
		// Strictly later only: on a tie the logon's own event, looked
		// at first, wins over the session's.
		if !found || best.before(e) {
			best, found = e, true
		}
	}
	var logonStart int64 // the logon's latest logon event (Unix ns); 0 none
	if q.Logon != 0 {
		for _, id := range t.logonKeys(host, q.Logon) {
			s := t.byLogon[key{host, uint64(id)}]
			i := latestAtOrBefore(s, at)
			if i < 0 || s[i].t < epoch {
				continue
			}
			consider(s[i])
			logonStart = max(logonStart, lastLogon(s[:i+1], epoch))
		}
	}
	if id, ok := q.Session.Get(); ok {
		s := t.bySession[key{host, uint64(id)}]
		if i := latestAtOrBefore(s, at); i >= 0 && s[i].t >= epoch {
			consider(s[i])
			if logonStart == 0 {
				logonStart = lastLogon(s[:i+1], epoch)
			}
		}
	}
	var c Client
	if logonStart != 0 {
		c.LogonTime = time.Unix(0, logonStart).Unix()
	}
	if found && best.change.Connects() {
		c.Name, c.Address, c.Attribution = best.name.Value(), best.addr.Value(), best.label.Value()
	}
	return c
}

// lastLogon returns the time of the last logon event of s at or after
// epoch that no logoff follows, or 0.
func lastLogon(s []entry, epoch int64) int64 {
	for i := len(s) - 1; i >= 0 && s[i].t >= epoch; i-- {
		switch s[i].change {
		case detector.SessionLogon:
			return s[i].t
		case detector.SessionLogoff:
			return 0
		}
	}
	return 0
}

// logonKeys returns logon with the logons linked to it by a split token.
func (t *Tracker) logonKeys(host string, logon detector.LogonID) []detector.LogonID {
	keys := []detector.LogonID{logon}
	add := func(id detector.LogonID) {
		if id != 0 && !slices.Contains(keys, id) {
			keys = append(keys, id)
		}
	}
	for _, e := range t.byLogon[key{host, uint64(logon)}] {
		add(e.linked)
	}
	for _, id := range t.linkedBy[key{host, uint64(logon)}] {
		add(id)
	}
	return keys
}

// latestAtOrBefore returns the index of the last entry of s at or before
// at, or -1.
func latestAtOrBefore(s []entry, at int64) int {
	i, _ := slices.BinarySearchFunc(s, at, func(e entry, at int64) int {
		if e.t <= at {
			return -1
		}
		return 1
	})
	return i - 1
}

// Attribute fills d's client fields from the events held, unless d already
// names a client (the process event itself did: Elastic Defend), and its
// LogonTime when the event did not carry one. It reports whether it named
// a client.
func (t *Tracker) Attribute(d *detector.Detection) bool {
	if d.ClientName != "" || d.ClientAddress != "" {
		return false
	}
	c := t.Lookup(Query{Host: d.Host, Logon: d.LogonID, Session: d.SessionID, Time: d.Time, LogonTime: d.LogonTime})
	if d.LogonTime == 0 {
		d.LogonTime = c.LogonTime
	}
	if !c.Connected() {
		return false
	}
	d.ClientName, d.ClientAddress, d.Attribution = c.Name, c.Address, c.Attribution
	return true
}

// Stats describe what a tracker holds and what it dropped.
type Stats struct {
	Events  int    // session events held
	Max     int    // the cap
	Dropped uint64 // events dropped at the cap
	// Horizon is the time before which events were dropped (zero when
	// none were): a process before it may lack a client it had.
	Horizon time.Time
}

// Stats returns the tracker's figures.
func (t *Tracker) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := Stats{Events: t.n, Max: t.max, Dropped: t.dropped}
	if t.dropped > 0 {
		s.Horizon = time.Unix(0, t.horizon).UTC()
	}
	return s
}

// Needles returns strings one of which the raw bytes of every session
// event hold, ignoring ASCII case, in the formats the readers take: a
// prefilter given them (source/file.Options.Needles) decodes the records
// the tracker learns from and passes over most others. "IpAddress" is in
// 4624 and "ClientAddress" in 4778/4779 (EVTX, XML, Windows JSON);
// "LocalSessionManager" in that channel's name; "TargetLogonId" and
// "SessionName" (or the event id "4778"/"4779") in ECS 4624/4634 and
// 4778/4779, whose addresses the Elastic pipelines move to source.ip;
// "4608" in a boot event's text. A bare "Address" would also find the
// System log's and 5156's addresses, and decode them for nothing. A 4608
// in EVTX, where the event id is binary, is found when its chunk holds
// another needle, as the 4624s that follow every boot make likely.
func Needles() []string {
	return []string{"IpAddress", "ClientAddress", "LocalSessionManager", "TargetLogonId", "SessionName", "4778", "4779", "4608"}
}
