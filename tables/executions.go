package tables

import (
	"context"
	"log/slog"
	"math"
	"strconv"

	"github.com/osquery/osquery-go/plugin/table"

	"github.com/tsclientwatch/tsclientwatch/store"
)

// ExecutionsName is the osquery name of the detections table.
const ExecutionsName = "tsclient_executions"

// MaxRows and MaxReplyBytes bound what one generate call returns. osquery
// receives the whole result in one Thrift message and holds it in its
// worker, which its watchdog kills past 200 MB by default; Thrift refuses
// messages past 100 MB. Past either bound the oldest rows (by eid) are
// returned and a warning is logged. Narrow with a time or eid constraint to
// page through more. A row's reply bytes are counted as Thrift encodes them
// (ReplyBytes).
const (
	MaxRows       = 50000
	MaxReplyBytes = 32 << 20
)

// Executions returns the tsclient_executions table over s. Constraints on
// time and eid (=, >, >=, <, <=) and pid (=) narrow the store scan; all
// other filtering is left to SQLite.
func Executions(s *store.Store) Table {
	cols := []table.ColumnDefinition{
		table.BigIntColumn("eid", table.IndexColumn(), withDesc("Event id, monotonic in the order detections entered the store")),
		table.BigIntColumn("time", table.IndexColumn(), withDesc("When the process started, Unix seconds (the event's own time)")),
		table.BigIntColumn("pid", table.IndexColumn(), withDesc("Process id")),
		table.BigIntColumn("parent", withDesc("Parent process id")),
		table.TextColumn("path", withDesc("Executable path exactly as the log or kernel wrote it")),
		table.TextColumn("cmdline", withDesc("Command line")),
		table.TextColumn("cwd", withDesc("Working directory")),
		table.TextColumn("parent_path", withDesc("Parent executable path")),
		table.TextColumn("username", withDesc("User that started the process")),
		table.TextColumn("hostname", withDesc("Host the event came from")),
		table.TextColumn("sha256", withDesc("SHA-256 of the executable, lower-case hex, when known")),
		table.TextColumn("client_drive", withDesc("Redirected client drive or share (c, C:, home)")),
		table.TextColumn("share_path", withDesc("Path inside the redirected share")),
		table.TextColumn("form", withDesc("Path form that matched: kernel, unc or xrdp")),
		table.TextColumn("source", withDesc("Where the event came from (sysmon, security, endpoint, ebpf, ...)")),
		table.TextColumn("fs_type", withDesc("Filesystem type the program ran from (fuse.xrdp-chansrv), live Linux watchers only; empty when unknown")),
		table.IntegerColumn("path_truncated", withDesc("1 when the watcher could not read the whole path: path keeps its start and end with … for the gap")),
		table.IntegerColumn("truncated", withDesc("1 when a string of the row was cut to the store's per-string cap (8 KiB)")),
		table.TextColumn("logon_id", withDesc("Windows logon session (LUID) the process ran in, lower-case hex (0x6a423); empty when unknown")),
		table.BigIntColumn("session_id", withDesc("Windows terminal session id, or the xrdp display number on Linux; NULL when unknown")),
		table.TextColumn("client_name", withDesc("Name of the RDP client connected to the session when the process started, as the source wrote it; empty when unknown")),
		table.TextColumn("client_address", withDesc("Address of that RDP client as the source wrote it (LOCAL, -, loopback kept); empty when unknown")),
		table.BigIntColumn("logon_time", withDesc("When the logon session began, Unix seconds; NULL when no source tells")),
		table.TextColumn("attribution", withDesc("Where client_name and client_address came from: event, 4624, 4778, lsm, wts, xrdp; empty when no client is known")),
		table.BigIntColumn("size", withDesc("Size in bytes of the executable as read when it ran (live sources, docs/evidence.md); NULL when unknown")),
		table.TextColumn("evidence_path", withDesc("The private copy of the executable kept in evidence.dir, named by its SHA-256; empty when none was kept")),
	}
	return Table{
		Name:        ExecutionsName,
		Columns:     cols,
		Generate:    guard(ExecutionsName, executionsGenerate(s)),
		Description: "Programs executed from an RDP client's redirected drive (Elastic rule 4fe9d835-40e1-452d-8230-17c147cafad8), held like osquery's evented tables.",
	}
}

// executionsGenerate is the unguarded generate function of
// tsclient_executions (tests call it with contexts the guard would wrap).
func executionsGenerate(s *store.Store) table.GenerateFunc {
	return func(ctx context.Context, qc table.QueryContext) ([]map[string]string, error) {
		f, ok := executionsFilter(qc)
		if !ok {
			return []map[string]string{}, nil
		}
		rows := []map[string]string{}
		var (
			returned []*store.Row
			bytes    int
			cut      string // which bound cut the reply short
		)
		err := s.Scan(ctx, f, func(r *store.Row) bool {
			row := executionRow(r)
			n := ReplyBytes(row)
			switch {
			case len(rows) == MaxRows:
				cut = "max_rows"
			case bytes+n > MaxReplyBytes:
				cut = "max_reply_bytes"
			default:
				rows = append(rows, row)
				returned = append(returned, r)
				bytes += n
				return true
			}
			return false
		})
		if err != nil {
			return nil, err
		}
		// What a generate returns is what osquery logs: those rows may now
		// give way to others when the store is full (see store.MarkRead).
		s.MarkRead(returned)
		if cut != "" {
			slog.Warn("result truncated; add a time or eid constraint", "table", ExecutionsName, "bound", cut,
				"rows", len(rows), "bytes", bytes, "max_rows", MaxRows, "max_reply_bytes", MaxReplyBytes)
		}
		return rows, nil
	}
}

func withDesc(d string) table.ColumnOpt {
	return func(c *table.ColumnDefinition) { c.Description = d }
}

// executionsFilter turns the pushed-down constraints into a store filter.
// ok is false when the constraints cannot all hold (the result is empty).
func executionsFilter(qc table.QueryContext) (f store.Filter, ok bool) {
	eid := IntBounds(qc, "eid")
	tm := IntBounds(qc, "time")
	pid := IntBounds(qc, "pid")
	// eids start at 1, so an upper bound below 1 selects nothing.
	if eid.Empty() || tm.Empty() || pid.Empty() || eid.Hi < 1 {
		return f, false
	}
	if eid.Lo > 1 {
		f.MinEID = uint64(eid.Lo)
	}
	if eid.Hi != math.MaxInt64 {
		f.MaxEID = uint64(eid.Hi)
	}
	// The store reads a time bound of 0 as "unbounded", which only widens
	// the scan. Times before 1970 are kept bounded: an attacker-written
	// event can carry one, and "time < 0" must still find it.
	if tm.Lo != math.MinInt64 {
		f.MinTime = tm.Lo
	}
	if tm.Hi != math.MaxInt64 {
		f.MaxTime = tm.Hi
	}
	if pid.Lo == pid.Hi {
		f.PID = pid.Lo // 0 means "any" to the store; SQLite still applies pid = 0
	}
	return f, true
}

// ReplyBytes is what row takes in a Thrift reply to osquery (binary
// protocol): a 6-byte map header, and for each column its name and value
// with the two 4-byte lengths that frame them.
func ReplyBytes(row map[string]string) int {
	n := 6
	for k, v := range row {
		n += 8 + len(k) + len(v)
	}
	return n
}

func executionRow(r *store.Row) map[string]string {
	return map[string]string{
		"eid":            strconv.FormatUint(r.EID, 10),
		"time":           strconv.FormatInt(r.Time(), 10),
		"pid":            strconv.FormatInt(r.PID, 10),
		"parent":         strconv.FormatInt(r.ParentPID, 10),
		"path":           r.Executable,
		"cmdline":        r.CommandLine,
		"cwd":            r.WorkingDirectory,
		"parent_path":    r.ParentExecutable,
		"username":       r.User,
		"hostname":       r.Host,
		"sha256":         r.SHA256,
		"client_drive":   r.ClientDrive,
		"share_path":     r.SharePath,
		"form":           string(r.Form),
		"source":         r.Source,
		"fs_type":        r.FSType,
		"path_truncated": boolInt(r.PathTruncated),
		"truncated":      boolInt(r.Truncated),
		"logon_id":       r.LogonID.String(),
		"session_id":     r.SessionID.String(), // "" is NULL: session 0 is a real session
		"client_name":    r.ClientName,
		"client_address": r.ClientAddress,
		"logon_time":     optionalInt(r.LogonTime),
		"attribution":    r.Attribution,
		"size":           optionalInt(r.Event.Size), // r.Size() is the row's cost in the store
		"evidence_path":  r.EvidencePath,
	}
}

// optionalInt renders n, or "" (NULL in the table) for 0, which stands for
// unknown.
func optionalInt(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

func boolInt(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
