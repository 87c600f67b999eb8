package eventlog

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// API is the handful of wevtapi, kernel32 and advapi32 calls the watcher
// makes. The real one (api_windows.go) is a thin layer over
// golang.org/x/sys/windows; tests drive the watcher with a scripted fake, so
// the lifecycle (empty reads, stale result sets, service restarts,
// resubscribing from a bookmark, batch halving, Close) runs on every
// platform.
type API interface {
	// Newest returns the EventRecordID of the newest record in channel,
	// or ok false when the channel holds none.
	Newest(channel string) (id uint64, ok bool, err error)
	// Subscribe starts a pull subscription to the events of channel that
	// query selects: after > 0 starts after record after (a bookmark,
	// EvtSubscribeStartAfterBookmark, not strict: if that record is gone
	// the subscription starts at the next one there is); after == 0 with
	// future events only.
	Subscribe(channel, query string, after uint64) (Handle, error)
	// Next returns up to max pending events of a subscription, without
	// waiting (EvtNext).
	Next(sub Handle, max int) ([]Handle, error)
	// Render returns an event as XML, UTF-8 (EvtRender).
	Render(event Handle) ([]byte, error)
	// Close closes an event or a subscription (EvtClose; for a
	// subscription also its signal).
	Close(h Handle)
	// Wait blocks until one of subs is signalled (its index), timeout
	// passes (WaitTimedOut) or Wake is called (WaitWoken; from then on
	// every Wait returns at once).
	Wait(subs []Handle, timeout time.Duration) (int, error)
	// Wake makes Wait return WaitWoken, now and ever after.
	Wake()
	// Release frees what Wake needs. It is called once, last.
	Release()
	// ProcessCreationAudited reports whether success auditing of the
	// Process Creation subcategory is on (AuditQuerySystemPolicy), i.e.
	// whether Security 4688 is written at all.
	ProcessCreationAudited() (bool, error)
}

// Handle is an EVT_HANDLE, opaque to the watcher.
type Handle uint64

// Results of Wait besides a subscription's index.
const (
	WaitTimedOut = -1
	WaitWoken    = -2
)

// ProcessCreationSubcategory is the audit subcategory whose success events
// are Security 4688.
const ProcessCreationSubcategory = "{0CCE922B-69AE-11D9-BED3-505054503030}"

// Windows error codes the watcher tells apart, as syscall.Errno on every
// platform so that the fake can return them.
const (
	errAccessDenied     = syscall.Errno(5)     // ERROR_ACCESS_DENIED
	errInvalidHandle    = syscall.Errno(6)     // ERROR_INVALID_HANDLE
	errNoMoreItems      = syscall.Errno(259)   // ERROR_NO_MORE_ITEMS
	errRPCUnavailable   = syscall.Errno(1722)  // RPC_S_SERVER_UNAVAILABLE: the EventLog service went away
	errInvalidBound     = syscall.Errno(1734)  // RPC_S_INVALID_BOUND: batch larger than the RPC layer allows
	errInvalidOperation = syscall.Errno(4317)  // ERROR_INVALID_OPERATION: EvtNext with nothing pending
	errChannelNotFound  = syscall.Errno(15007) // ERROR_EVT_CHANNEL_NOT_FOUND
	errQueryResultStale = syscall.Errno(15011) // ERROR_EVT_QUERY_RESULT_STALE: the log was cleared or wrapped
)

// Bookmark XML: the format EvtRender(EvtRenderBookmark) writes and
// EvtCreateBookmark reads. The watcher's cursor is one such list with one
// bookmark per channel.
type bookmarkList struct {
	XMLName   xml.Name      `xml:"BookmarkList"`
	Bookmarks []bookmarkXML `xml:"Bookmark"`
}

type bookmarkXML struct {
	Channel   string `xml:"Channel,attr"`
	RecordID  string `xml:"RecordId,attr"`
	IsCurrent string `xml:"IsCurrent,attr,omitempty"`
}

// BookmarkXML renders positions (channel -> record id of the last event
// handled) as a bookmark list; current names the channel of the latest
// event, or "".
func BookmarkXML(positions map[string]uint64, current string) string {
	if len(positions) == 0 {
		return ""
	}
	channels := make([]string, 0, len(positions))
	for ch := range positions {
		channels = append(channels, ch)
	}
	sort.Strings(channels)
	var b strings.Builder
	b.WriteString("<BookmarkList>\r\n")
	for _, ch := range channels {
		b.WriteString("  <Bookmark Channel='")
		xml.EscapeText(&b, []byte(ch))
		b.WriteString("' RecordId='")
		b.WriteString(strconv.FormatUint(positions[ch], 10))
		b.WriteString("'")
		if ch == current {
			b.WriteString(" IsCurrent='true'")
		}
		b.WriteString("/>\r\n")
	}
	b.WriteString("</BookmarkList>")
	return b.String()
}

// ParseBookmarks reads a bookmark list back into positions.
func ParseBookmarks(s string) (map[string]uint64, error) {
	var l bookmarkList
	if err := xml.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("bookmark list: %w", err)
	}
	out := make(map[string]uint64, len(l.Bookmarks))
	for _, bm := range l.Bookmarks {
		id, err := strconv.ParseUint(bm.RecordID, 10, 64)
		if err != nil || bm.Channel == "" || id == 0 {
			return nil, fmt.Errorf("bookmark list: bad bookmark channel %q record id %q", bm.Channel, bm.RecordID)
		}
		out[bm.Channel] = id
	}
	return out, nil
}

// recordIDFromXML finds <EventRecordID> in a rendered event without
// decoding the rest, for events the decoder refuses; 0 when absent.
func recordIDFromXML(x []byte) uint64 {
	const open = "<EventRecordID>"
	i := bytes.Index(x, []byte(open))
	if i < 0 {
		return 0
	}
	rest := x[i+len(open):]
	j := bytes.IndexByte(rest, '<')
	if j < 0 {
		return 0
	}
	id, err := strconv.ParseUint(string(bytes.TrimSpace(rest[:j])), 10, 64)
	if err != nil {
		return 0
	}
	return id
}
