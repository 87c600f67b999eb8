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

	"github.com/tsclientwatch/tsclientwatch/internal/escape"
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

// Options tune Write.
type Options struct {
	// CSVRaw writes CSV text cells that a spreadsheet would read as a
	// formula (=, +, -, @, tab or CR first) as they are, without the
	// leading apostrophe that makes them inert. Controls stay escaped.
	CSVRaw bool
}

// Write prints columns and rows to w in format f. Every format escapes
// what a terminal or a viewer would act on (internal/escape): tables and
// CSV show control, C1, bidi and other format characters as \x.., \u....;
// JSON \u-escapes them, so decoded values are exact. CSV text cells that
// begin like a formula get a leading apostrophe unless o.CSVRaw.
func Write(w io.Writer, f Format, columns []string, rows [][]any, o Options) error {
	switch f {
	case FormatJSON:
		return writeJSON(w, columns, rows)
	case FormatCSV:
		return writeCSV(w, columns, rows, o.CSVRaw)
	case FormatTable, "":
		return writeTable(w, columns, rows)
	}
	return fmt.Errorf("unknown output format %q", f)
}

// writeJSON prints one array of objects whose keys keep the column order;
// integers stay JSON numbers and NULL becomes null. Strings pass through
// escape.JSON: C1, bidi and format characters become \u escapes.
func writeJSON(w io.Writer, columns []string, rows [][]any) error {
	bw := bufio.NewWriter(w)
	keys := make([][]byte, len(columns))
	for i, c := range columns {
		k, _ := json.Marshal(c)
		keys[i] = escape.JSON(k)
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
	return escape.JSON(b)
}

// writeCSV prints RFC 4180 CSV. Text cells are escaped and, unless raw,
// neutralised for spreadsheets (escape.CSV); numbers are written as they
// are, so a negative number stays a number.
func writeCSV(w io.Writer, columns []string, rows [][]any, raw bool) error {
	cw := csv.NewWriter(w)
	rec := make([]string, len(columns))
	for i, c := range columns {
		rec[i] = escape.CSV(c, raw)
	}
	if err := cw.Write(rec); err != nil {
		return err
	}
	for _, row := range rows {
		for i, v := range row {
			switch v.(type) {
			case int64, float64, nil:
				rec[i] = text(v)
			default:
				rec[i] = escape.CSV(text(v), raw)
			}
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

// writeTable prints the osqueryi-style bordered table. Unsafe characters
// in names and values are escaped (escape.Text), so one row stays on one
// line and nothing in it acts on the terminal.
func writeTable(w io.Writer, columns []string, rows [][]any) error {
	cells := make([][]string, len(rows))
	widths := make([]int, len(columns))
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i] = escape.Text(c)
		widths[i] = utf8.RuneCountInString(names[i])
	}
	for r, row := range rows {
		cells[r] = make([]string, len(row))
		for i, v := range row {
			s := escape.Text(text(v))
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
	line(names)
	rule()
	for _, row := range cells {
		line(row)
	}
	if len(cells) > 0 {
		rule()
	}
	return bw.Flush()
}
