package tables

import (
	"context"
	"strconv"
	"time"

	"github.com/osquery/osquery-go/plugin/table"

	"github.com/tsclientwatch/tsclientwatch/internal/escape"
	"github.com/tsclientwatch/tsclientwatch/store"
)

// StatusName is the osquery name of the status table.
const StatusName = "tsclientwatch_status"

// SourceStatus is one row of tsclientwatch_status: an event source (a
// replayed or followed file, the live watcher) or, with Type "store", the
// detection store itself (see StoreStatus).
type SourceStatus struct {
	Type       string // "file", "live", "store", or "none" when nothing is configured
	Target     string // file path, watcher name, or table name for the store
	State      string // e.g. "running", "done", "failed", "unavailable"
	Started    time.Time
	EventsRead int64 // records read; for the store, detections added
	Detections int64 // detections produced; for the store, rows held now
	Dropped    int64 // events or rows dropped; for the store, cap + expiry drops
	Errors     int64 // bad records and other errors
	LastError  string

	// Store-only counters; zero on source rows.
	DroppedCap     int64
	DroppedExpired int64
	MaxEvents      int64
	ExpirySeconds  int64

	// Restarts counts how often a live or osquery source was started
	// again after it failed or could not be opened.
	Restarts int64
	// LostBuffers counts buffers of events lost whole (ETW real-time
	// buffers); how many starts they held is unknown, so they are not in
	// Dropped.
	LostBuffers int64
	// Warning says why a running source may not see everything (process
	// creation auditing off, Sysmon missing, osquery's table disabled).
	Warning      string
	DroppedBytes int64 // rows dropped to stay within MaxBytes
	// DroppedUnread counts rows dropped for a bound (rows or bytes) before
	// any query read them: detections nobody saw. Alert when it grows.
	DroppedUnread int64
	Unread        int64 // rows held that no query has returned yet
	Bytes         int64 // bytes held (each row counted by its reply size)
	MaxBytes      int64
	Truncated     int64 // rows stored with a string cut to the per-string cap
	Duplicates    int64 // detections not added again (idempotent replays)
	// Persistence is the store's durable state: memory, ok, failing or
	// stalled (store.Persist*); StatePath the database file.
	Persistence string
	StatePath   string
	Unpersisted int64 // rows shown but not yet written (failing, stalled)
	Loaded      int64 // rows read back from the database at start

	// GapStart and GapEnd bound the latest window in which a live source
	// (which has no history to read back) was not watching: from the last
	// moment it is known to have seen everything to when it started again
	// after a restart. Zero when there was none.
	GapStart, GapEnd time.Time
	// Cursor describes where the source resumed or stands: a file's
	// offset, the last record id, a bookmark.
	Cursor string

	// Evidence counters, on the row of Type "evidence" only (package
	// evidence, docs/evidence.md): programs read and hashed, copies kept,
	// programs over evidence.max_file_bytes, reads abandoned after
	// evidence.timeout, reads that failed, copies evicted for
	// evidence.max_dir_bytes, detections released without evidence (the
	// queue was full, not a regular file, ...), detections waiting now,
	// and abandoned reads still stuck in the kernel.
	EvidenceRead, EvidenceKept, EvidenceTooLarge, EvidenceTimedOut int64
	EvidenceFailed, EvidenceEvicted, EvidenceReleased              int64
	EvidenceWaiting, EvidenceHung                                  int64
}

// StoreStatus describes s as a status row, the way osquery_events reports
// its publishers next to its subscribers.
func StoreStatus(s *store.Store) SourceStatus {
	st := s.Stats()
	p := s.Persistence()
	state := "ok"
	if st.Rows >= st.MaxEvents || st.Bytes >= st.MaxBytes-store.MaxRowBytes {
		state = "full" // each new detection now pushes out another
	}
	return SourceStatus{
		Type:           "store",
		Target:         ExecutionsName,
		State:          state,
		Started:        st.Created,
		EventsRead:     int64(st.Added),
		Detections:     int64(st.Rows),
		Dropped:        int64(st.DroppedCap + st.DroppedBytes + st.DroppedExpired),
		DroppedCap:     int64(st.DroppedCap),
		DroppedExpired: int64(st.DroppedExpired),
		MaxEvents:      int64(st.MaxEvents),
		ExpirySeconds:  int64(st.Expiry / time.Second),
		DroppedBytes:   int64(st.DroppedBytes),
		DroppedUnread:  int64(st.DroppedUnread),
		Unread:         int64(st.Unread),
		Bytes:          st.Bytes,
		MaxBytes:       st.MaxBytes,
		Truncated:      int64(st.Truncated),
		Duplicates:     int64(st.Duplicates),
		Persistence:    p.State,
		StatePath:      p.Path,
		Unpersisted:    int64(p.Unpersisted),
		Loaded:         int64(p.Loaded),
		LastError:      p.Err,
	}
}

// NoSource is the status row shown when no usable source is configured: the
// tables are then served but stay empty, and this row says why.
func NoSource(reason string) SourceStatus {
	return SourceStatus{Type: "none", State: "unconfigured", LastError: reason}
}

// Status returns the tsclientwatch_status table, one row per SourceStatus f
// returns (f may be nil: no rows). f is called once per generate and must be
// safe for concurrent use.
func Status(f func() []SourceStatus) Table {
	cols := []table.ColumnDefinition{
		table.TextColumn("type", withDesc("file, live, store, or none when no source is configured")),
		table.TextColumn("target", withDesc("File path or watcher; for the store, the table it feeds")),
		table.TextColumn("state", withDesc("Source state (running, done, failed, unavailable...); store: ok or full")),
		table.BigIntColumn("started", withDesc("When the source (or store) started, Unix seconds; 0 if not started")),
		table.BigIntColumn("events_read", withDesc("Records read; for the store, detections ever added")),
		table.BigIntColumn("detections", withDesc("Detections produced; for the store, rows held now")),
		table.BigIntColumn("dropped", withDesc("Events dropped; for the store, rows dropped (cap + bytes + expiry)")),
		table.BigIntColumn("errors", withDesc("Bad records and other errors")),
		table.TextColumn("last_error", withDesc("The latest error, or why the source is not running")),
		table.BigIntColumn("dropped_cap", withDesc("Store only: rows dropped to stay within max_events")),
		table.BigIntColumn("dropped_expired", withDesc("Store only: rows dropped after expiry")),
		table.BigIntColumn("max_events", withDesc("Store only: the row cap")),
		table.BigIntColumn("expiry", withDesc("Store only: seconds a row is held")),
		table.BigIntColumn("restarts", withDesc("Times a live or osquery source was started again after it failed")),
		table.BigIntColumn("lost_buffers", withDesc("ETW real-time buffers lost whole (many events each; not in dropped)")),
		table.TextColumn("warning", withDesc("Why a running source may miss events (auditing off, Sysmon missing, ...)")),
		table.BigIntColumn("dropped_bytes", withDesc("Store only: rows dropped to stay within max_bytes")),
		table.BigIntColumn("dropped_unread", withDesc("Store only: rows dropped for max_events or max_bytes before any query read them; alert when above 0")),
		table.BigIntColumn("unread", withDesc("Store only: rows held that no query has returned yet")),
		table.BigIntColumn("bytes", withDesc("Store only: bytes held (each row counted by the size of its query reply)")),
		table.BigIntColumn("max_bytes", withDesc("Store only: the byte budget")),
		table.BigIntColumn("truncated", withDesc("Store only: rows stored with a string cut to the 8 KiB per-string cap")),
		table.BigIntColumn("duplicates", withDesc("Store only: detections not added again because the store already had them (replays)")),
		table.TextColumn("persistence", withDesc("Store only: memory (no state directory), ok, failing (writes fail: a full disk...; detection goes on) or stalled (a write hangs)")),
		table.TextColumn("state_path", withDesc("Store only: the state database file")),
		table.BigIntColumn("unpersisted", withDesc("Store only: rows shown but not yet written to the state database")),
		table.BigIntColumn("loaded", withDesc("Store only: rows read back from the state database at start")),
		table.BigIntColumn("gap_start", withDesc("Live sources: start of the latest window not watched (the last moment all was seen before a restart), Unix seconds; 0 if none")),
		table.BigIntColumn("gap_end", withDesc("Live sources: end of that window (watching resumed), Unix seconds; 0 if none")),
		table.TextColumn("cursor", withDesc("Where the source stands or resumed: file offset, last record id, bookmark")),
		table.BigIntColumn("evidence_read", withDesc("Evidence only: programs of live detections read and hashed")),
		table.BigIntColumn("evidence_kept", withDesc("Evidence only: copies written to evidence.dir")),
		table.BigIntColumn("evidence_too_large", withDesc("Evidence only: programs over evidence.max_file_bytes (detected, sized, neither hashed nor copied)")),
		table.BigIntColumn("evidence_timed_out", withDesc("Evidence only: reads abandoned after evidence.timeout (a hung client drive, a FIFO)")),
		table.BigIntColumn("evidence_failed", withDesc("Evidence only: reads that failed (the program was gone or unreadable)")),
		table.BigIntColumn("evidence_evicted", withDesc("Evidence only: copies removed, oldest first, to stay within evidence.max_dir_bytes")),
		table.BigIntColumn("evidence_released", withDesc("Evidence only: detections shown without evidence (queue full, not a regular file, collector closed)")),
		table.BigIntColumn("evidence_waiting", withDesc("Evidence only: detections waiting for their evidence now (not yet in tsclient_executions)")),
		table.BigIntColumn("evidence_hung", withDesc("Evidence only: abandoned reads still stuck in the kernel")),
	}
	gen := func(ctx context.Context, _ table.QueryContext) ([]map[string]string, error) {
		if f == nil {
			return []map[string]string{}, nil
		}
		list := f()
		rows := make([]map[string]string, 0, len(list))
		for _, s := range list {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			rows = append(rows, statusRow(&s))
		}
		return rows, nil
	}
	return Table{
		Name:        StatusName,
		Columns:     cols,
		Generate:    guard(StatusName, gen),
		Description: "State and counters of each tsclientwatch event source and of the detection store, like osquery_events.",
	}
}

// statusRow renders one row. Its text comes from file names, mount names
// and decoder errors quoting log content, all attacker-controlled, and
// osquery hands it on raw (osqueryi, JSON logs, Fleet's web UI), so it is
// escaped here, once, for every consumer (escape.Text).
func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func statusRow(s *SourceStatus) map[string]string {
	var started int64
	if !s.Started.IsZero() {
		started = s.Started.Unix()
	}
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	return map[string]string{
		"type":               escape.Text(s.Type),
		"target":             escape.Text(s.Target),
		"state":              escape.Text(s.State),
		"started":            i(started),
		"events_read":        i(s.EventsRead),
		"detections":         i(s.Detections),
		"dropped":            i(s.Dropped),
		"errors":             i(s.Errors),
		"last_error":         escape.Text(s.LastError),
		"dropped_cap":        i(s.DroppedCap),
		"dropped_expired":    i(s.DroppedExpired),
		"max_events":         i(s.MaxEvents),
		"expiry":             i(s.ExpirySeconds),
		"restarts":           i(s.Restarts),
		"lost_buffers":       i(s.LostBuffers),
		"warning":            escape.Text(s.Warning),
		"dropped_bytes":      i(s.DroppedBytes),
		"dropped_unread":     i(s.DroppedUnread),
		"unread":             i(s.Unread),
		"bytes":              i(s.Bytes),
		"max_bytes":          i(s.MaxBytes),
		"truncated":          i(s.Truncated),
		"duplicates":         i(s.Duplicates),
		"persistence":        escape.Text(s.Persistence),
		"state_path":         escape.Text(s.StatePath),
		"unpersisted":        i(s.Unpersisted),
		"loaded":             i(s.Loaded),
		"gap_start":          i(unix(s.GapStart)),
		"gap_end":            i(unix(s.GapEnd)),
		"cursor":             escape.Text(s.Cursor),
		"evidence_read":      i(s.EvidenceRead),
		"evidence_kept":      i(s.EvidenceKept),
		"evidence_too_large": i(s.EvidenceTooLarge),
		"evidence_timed_out": i(s.EvidenceTimedOut),
		"evidence_failed":    i(s.EvidenceFailed),
		"evidence_evicted":   i(s.EvidenceEvicted),
		"evidence_released":  i(s.EvidenceReleased),
		"evidence_waiting":   i(s.EvidenceWaiting),
		"evidence_hung":      i(s.EvidenceHung),
	}
}
