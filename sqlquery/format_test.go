package sqlquery

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	cols := []string{"eid", "path", "score", "note"}
	rows := [][]any{
		{int64(1), `\\tsclient\c\a.exe`, 1.5, nil},
		{int64(12345678901), "ünïcode, \"quoted\"", float64(2), "two\nlines"},
	}
	tests := []struct {
		format Format
		rows   [][]any
		want   string
	}{
		{FormatJSON, rows, `[
  {"eid": 1, "path": "\\\\tsclient\\c\\a.exe", "score": 1.5, "note": null},
  {"eid": 12345678901, "path": "ünïcode, \"quoted\"", "score": 2, "note": "two\nlines"}
]
`},
		{FormatJSON, nil, "[]\n"},
		{FormatCSV, rows, "eid,path,score,note\n" +
			"1,\\\\tsclient\\c\\a.exe,1.5,\n" +
			"12345678901,\"ünïcode, \"\"quoted\"\"\",2,two\\nlines\n"},
		{FormatCSV, nil, "eid,path,score,note\n"},
		{FormatTable, rows, `+-------------+--------------------+-------+------------+
| eid         | path               | score | note       |
+-------------+--------------------+-------+------------+
| 1           | \\tsclient\c\a.exe | 1.5   |            |
| 12345678901 | ünïcode, "quoted"  | 2     | two\nlines |
+-------------+--------------------+-------+------------+
`},
		{FormatTable, nil, `+-----+------+-------+------+
| eid | path | score | note |
+-----+------+-------+------+
`},
	}
	for _, tc := range tests {
		t.Run(string(tc.format), func(t *testing.T) {
			var b bytes.Buffer
			if err := Write(&b, tc.format, cols, tc.rows, Options{}); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tc.want)
			}
			if tc.format == FormatJSON {
				var v []map[string]any
				if err := json.Unmarshal(b.Bytes(), &v); err != nil {
					t.Fatalf("output is not JSON: %v", err)
				}
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"json": FormatJSON, " CSV": FormatCSV, "table": FormatTable} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Errorf("ParseFormat(xml) error = %v", err)
	}
}
