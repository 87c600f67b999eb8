package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/escape"
)

// detectionWriter prints detections in one output format.
type detectionWriter interface {
	Write(d *detector.Detection) error
	// Close writes anything buffered.
	Close() error
}

// ndjsonRecord is one output line; the key names match the osquery table
// columns, so the two outputs can be joined.
type ndjsonRecord struct {
	Time        int64  `json:"time"`
	PID         int64  `json:"pid"`
	Parent      int64  `json:"parent"`
	Path        string `json:"path"`
	Cmdline     string `json:"cmdline"`
	Cwd         string `json:"cwd"`
	ParentPath  string `json:"parent_path"`
	Username    string `json:"username"`
	Hostname    string `json:"hostname"`
	SHA256      string `json:"sha256"`
	ClientDrive string `json:"client_drive"`
	SharePath   string `json:"share_path"`
	Form        string `json:"form"`
	Source      string `json:"source"`
	RuleID      string `json:"rule_id"`
	// FSType and PathTruncated are set by the live Linux watchers only.
	FSType        string `json:"fs_type"`
	PathTruncated bool   `json:"path_truncated"`
	// Attribution (docs/attribution.md): unknown numbers are null, as
	// the table's NULL; session 0 is a real session.
	LogonID       string  `json:"logon_id"`
	SessionID     *uint32 `json:"session_id"`
	ClientName    string  `json:"client_name"`
	ClientAddress string  `json:"client_address"`
	LogonTime     *int64  `json:"logon_time"`
	Attribution   string  `json:"attribution"`
	// Evidence (docs/evidence.md), live sources only: the executable's
	// size when it ran (null when unknown) and its kept copy.
	Size         *int64 `json:"size"`
	EvidencePath string `json:"evidence_path"`
}

func toRecord(d *detector.Detection) ndjsonRecord {
	var t int64
	if !d.Time.IsZero() {
		t = d.Time.Unix()
	}
	r := ndjsonRecord{
		Time: t, PID: d.PID, Parent: d.ParentPID, Path: d.Executable,
		Cmdline: d.CommandLine, Cwd: d.WorkingDirectory, ParentPath: d.ParentExecutable,
		Username: d.User, Hostname: d.Host, SHA256: d.SHA256,
		ClientDrive: d.ClientDrive, SharePath: d.SharePath, Form: string(d.Form),
		Source: d.Source, RuleID: d.RuleID, FSType: d.FSType, PathTruncated: d.PathTruncated,
		LogonID: d.LogonID.String(), ClientName: d.ClientName, ClientAddress: d.ClientAddress, Attribution: d.Attribution,
	}
	if id, ok := d.SessionID.Get(); ok {
		r.SessionID = &id
	}
	if d.LogonTime != 0 {
		r.LogonTime = &d.LogonTime
	}
	if d.Size != 0 {
		r.Size = &d.Size
	}
	r.EvidencePath = d.EvidencePath
	return r
}

// ndjsonWriter writes one JSON object a line, flushed at once so a
// consumer at the end of a pipe sees each detection as it is found.
type ndjsonWriter struct {
	bw  *bufio.Writer
	buf bytes.Buffer
	enc *json.Encoder
}

func newNDJSONWriter(w io.Writer) *ndjsonWriter {
	n := &ndjsonWriter{bw: bufio.NewWriter(w)}
	n.enc = json.NewEncoder(&n.buf)
	// Paths and command lines hold '<', '>' and '&' often; \u003c would
	// only make them harder to read and grep.
	n.enc.SetEscapeHTML(false)
	return n
}

func (n *ndjsonWriter) Write(d *detector.Detection) error {
	n.buf.Reset()
	if err := n.enc.Encode(toRecord(d)); err != nil {
		return err
	}
	// C1, bidi and format characters as \u escapes: the decoded values
	// are unchanged, a terminal or viewer showing the line acts on none.
	if _, err := n.bw.Write(escape.JSON(n.buf.Bytes())); err != nil {
		return err
	}
	return n.bw.Flush()
}

func (n *ndjsonWriter) Close() error { return n.bw.Flush() }

// tableWriter collects detections and prints them as aligned columns when
// closed (alignment needs every row's width).
type tableWriter struct {
	w    io.Writer
	rows [][]string
}

var tableHeader = []string{"TIME", "HOSTNAME", "USERNAME", "CLIENT", "PID", "FORM", "DRIVE", "PATH", "SOURCE"}

func newTableWriter(w io.Writer) *tableWriter { return &tableWriter{w: w} }

func (t *tableWriter) Write(d *detector.Detection) error {
	ts := "-"
	if !d.Time.IsZero() {
		ts = d.Time.UTC().Format(time.RFC3339)
	}
	t.rows = append(t.rows, []string{ts, d.Host, d.User, client(d), strconv.FormatInt(d.PID, 10),
		string(d.Form), d.ClientDrive, d.Executable, d.Source})
	return nil
}

// client is the RDP client in one table cell: "JUMP01 (10.23.23.9)", or
// whichever of name and address is known.
func client(d *detector.Detection) string {
	switch {
	case d.ClientName != "" && d.ClientAddress != "":
		return d.ClientName + " (" + d.ClientAddress + ")"
	case d.ClientName != "":
		return d.ClientName
	}
	return d.ClientAddress
}

func (t *tableWriter) Close() error {
	if len(t.rows) == 0 {
		return nil // the summary on stderr says "0 detections"
	}
	tw := tabwriter.NewWriter(t.w, 0, 0, 2, ' ', 0)
	writeRow(tw, tableHeader)
	for _, r := range t.rows {
		writeRow(tw, r)
	}
	return tw.Flush()
}

func writeRow(w io.Writer, cells []string) {
	var b strings.Builder
	for i, c := range cells {
		if i > 0 {
			b.WriteByte('\t')
		}
		b.WriteString(cell(c))
	}
	b.WriteByte('\n')
	io.WriteString(w, b.String())
}

// cell makes a value safe for one table cell: empty becomes "-", and
// what a terminal would act on or show misleadingly (tabs, newlines,
// escape sequences, C1 controls, bidi overrides, invalid UTF-8: anything
// an attacker could plant in a path or command line) is shown escaped.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return escape.Text(s)
}

// isTerminal reports whether w is a terminal, where a progress line
// rewritten in place makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}
