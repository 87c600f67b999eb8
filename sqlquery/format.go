package sqlquery

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Format is how Write prints a result.
type Format string

// The output formats.
const (
	FormatTable Format = "table" // aligned with borders, for people (osqueryi's "pretty")
	FormatJSON  Format = "json"  // one JSON array of row objects
	FormatCSV   Format = "csv"   // RFC 4180 with a header line
)

// ParseFormat returns the Format named s.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case FormatTable, FormatJSON, FormatCSV:
		return f, nil
	}
	return "", fmt.Errorf("unknown output format %q (want table, json or csv)", s)
}

// Write prints columns and rows to w in format f.
func Write(w io.Writer, f Format, columns []string, rows [][]any) error {
	switch f {
	case FormatJSON:
		return writeJSON(w, columns, rows)
	case FormatCSV:
		return writeCSV(w, columns, rows)
	case FormatTable, "":
		return writeTable(w, columns, rows)
	}
	return fmt.Errorf("unknown output format %q", f)
}

// writeJSON prints one array of objects whose keys keep the column order;
// integers stay JSON numbers and NULL becomes null.
func writeJSON(w io.Writer, columns []string, rows [][]any) error {
	bw := bufio.NewWriter(w)
	keys := make([][]byte, len(columns))
	for i, c := range columns {
		k, _ := json.Marshal(c)
		keys[i] = k
	}
	bw.WriteString("[")
	for r, row := range rows {
		if r > 0 {
			bw.WriteString(",")
		}
		bw.WriteString("\n  {")
		for i, v := range row {
			if i > 0 {
				bw.WriteString(", ")
			}
			bw.Write(keys[i])
			bw.WriteString(": ")
			bw.Write(jsonValue(v))
		}
		bw.WriteString("}")
	}
	if len(rows) > 0 {
		bw.WriteString("\n")
	}
	bw.WriteString("]\n")
	return bw.Flush()
}

func jsonValue(v any) []byte {
	switch x := v.(type) {
	case nil:
		return []byte("null")
	case int64:
		return strconv.AppendInt(nil, x, 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return []byte("null")
		}
	case []byte:
		v = string(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(fmt.Sprint(v))
	}
	return b
}

func writeCSV(w io.Writer, columns []string, rows [][]any) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(columns); err != nil {
		return err
	}
	rec := make([]string, len(columns))
	for _, row := range rows {
		for i, v := range row {
			rec[i] = text(v)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// text renders a value for the table and CSV formats; NULL is empty.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// writeTable prints the osqueryi-style bordered table. Control characters in
// values are escaped so one row stays on one line.
func writeTable(w io.Writer, columns []string, rows [][]any) error {
	cells := make([][]string, len(rows))
	widths := make([]int, len(columns))
	for i, c := range columns {
		widths[i] = utf8.RuneCountInString(c)
	}
	for r, row := range rows {
		cells[r] = make([]string, len(row))
		for i, v := range row {
			s := oneLine(text(v))
			cells[r][i] = s
			widths[i] = max(widths[i], utf8.RuneCountInString(s))
		}
	}
	bw := bufio.NewWriter(w)
	rule := func() {
		bw.WriteString("+")
		for _, n := range widths {
			bw.WriteString(strings.Repeat("-", n+2))
			bw.WriteString("+")
		}
		bw.WriteString("\n")
	}
	line := func(vals []string) {
		bw.WriteString("|")
		for i, s := range vals {
			bw.WriteString(" ")
			bw.WriteString(s)
			bw.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(s)+1))
			bw.WriteString("|")
		}
		bw.WriteString("\n")
	}
	rule()
	line(columns)
	rule()
	for _, row := range cells {
		line(row)
	}
	if len(cells) > 0 {
		rule()
	}
	return bw.Flush()
}

func oneLine(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case isControl(r) && r > 0xff:
			fmt.Fprintf(&b, `\u%04x`, r)
		case isControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isControl reports runes a terminal may act on: C0 controls, DEL, C1
// controls (U+0080-U+009F, which some terminals treat as CSI and friends)
// and invalid UTF-8 (decoded as U+FFFD; shown escaped so the cell says
// something was wrong).
func isControl(r rune) bool {
	return r < ' ' || (r >= 0x7f && r <= 0x9f) || r == utf8.RuneError
}
