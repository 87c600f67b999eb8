package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// Ident identifies a detection across readers and restarts: reading the
// same record again, from the same file or another copy of it, yields the
// same Ident, and the store keeps one row per Ident.
//
// It is a SHA-256 (cut to 128 bits) over the fields that tell two process
// starts apart: where the record came from (Source, Host, and the record id
// where the log has one), when (the event's own time to the nanosecond),
// the process (pid, parent pid) and what ran (path, command line, user).
// Fields derived by the rule are left out, and so is anything the store
// changes (strings are hashed before they are cut). A hash an attacker
// cannot steer to a chosen value matters here: a row planted with the
// Ident of a future real detection would hide it. A reader that drops a
// field (no time, no pid) makes distinct events with otherwise equal fields
// one detection; the remaining fields keep that rare.
type Ident [16]byte

// String returns the Ident in hexadecimal.
func (id Ident) String() string { return hex.EncodeToString(id[:]) }

// IdentOf returns d's identity.
func IdentOf(d *detector.Detection) Ident {
	e := &d.Event
	var b [8]byte
	h := sha256.New()
	str := func(s string) {
		binary.LittleEndian.PutUint64(b[:], uint64(len(s)))
		h.Write(b[:])
		h.Write([]byte(s))
	}
	num := func(n uint64) {
		binary.LittleEndian.PutUint64(b[:], n)
		h.Write(b[:])
	}
	h.Write([]byte("tsclientwatch detection v1\x00"))
	str(e.Source)
	str(e.Host)
	num(e.RecordID)
	if e.Time.IsZero() {
		num(0)
		num(0)
		num(0)
	} else { // seconds and nanoseconds: UnixNano overflows before 1678 (FILETIME 0 is 1601)
		num(1)
		num(uint64(e.Time.Unix()))
		num(uint64(e.Time.Nanosecond()))
	}
	num(uint64(e.PID))
	num(uint64(e.ParentPID))
	str(e.Executable)
	str(e.CommandLine)
	str(e.User)
	var id Ident
	copy(id[:], h.Sum(nil))
	return id
}

// idents is the set of identities held or recently dropped. Dropped ones
// (tombstones) are forgotten oldest first beyond a bound, so the set stays
// at most twice the row cap.
type idents struct {
	set   map[Ident]struct{}
	tombs []Ident // ring of tombstones in the order they were buried
	first int     // oldest tombstone in tombs
	n     int     // tombstones held
}

func (s *idents) init(capacity int) {
	s.set = make(map[Ident]struct{})
	s.tombs = make([]Ident, max(capacity, 1))
}

// admit adds id and reports whether it was new.
func (s *idents) admit(id Ident) bool {
	if _, ok := s.set[id]; ok {
		return false
	}
	s.set[id] = struct{}{}
	return true
}

// has reports whether id is held or a tombstone.
func (s *idents) has(id Ident) bool {
	_, ok := s.set[id]
	return ok
}

// bury turns a held id into a tombstone.
func (s *idents) bury(id Ident) {
	if s.n == len(s.tombs) {
		delete(s.set, s.tombs[s.first])
		s.first = (s.first + 1) % len(s.tombs)
		s.n--
	}
	s.tombs[(s.first+s.n)%len(s.tombs)] = id
	s.n++
}

// buried returns the tombstones, oldest first.
func (s *idents) buried() []Ident {
	out := make([]Ident, s.n)
	for i := range out {
		out[i] = s.tombs[(s.first+i)%len(s.tombs)]
	}
	return out
}
