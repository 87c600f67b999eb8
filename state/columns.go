package state

import (
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// Every exported field of detector.Detection (its Event included) is a
// column of the detections and pending tables, named after the field in
// snake case (ParentPID: parent_pid, FSType: fs_type). The columns are
// derived from the type, and a column a field needs that the file lacks is
// added when the database is opened (ALTER TABLE ADD COLUMN ... NOT NULL
// DEFAULT the zero value), so a field added to detector.Event is stored
// from the next build on, old rows read back with its zero value, and an
// older build reading a newer file leaves the columns it does not know
// alone. A field of a type the mapping does not know stops every test of
// this package (the mapping is built at start-up), so nothing is silently
// lost.

type colKind uint8

const (
	kindText    colKind = iota // string types: TEXT, bytes kept as they are
	kindInt                    // signed integers: INTEGER
	kindUint                   // unsigned integers: INTEGER holding the bits
	kindBool                   // INTEGER 0 or 1
	kindTime                   // time.Time: two INTEGERs, seconds and nanoseconds, NULL for the zero time
	kindSession                // detector.SessionID: TEXT, "" unknown
)

// field is one field of detector.Detection and its columns.
type field struct {
	index []int
	kind  colKind
	cols  []string // one column; two for a time
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	sessionType = reflect.TypeFor[detector.SessionID]()
)

// fields is the mapping, in struct order.
var fields = mapFields(reflect.TypeFor[detector.Detection](), nil)

func mapFields(t reflect.Type, prefix []int) []field {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		idx := append(append([]int(nil), prefix...), i)
		if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			out = append(out, mapFields(sf.Type, idx)...)
			continue
		}
		name := snake(sf.Name)
		f := field{index: idx, cols: []string{name}}
		switch ft := sf.Type; {
		case ft == timeType:
			f.kind, f.cols = kindTime, []string{name + "_s", name + "_ns"}
		case ft == sessionType:
			f.kind = kindSession
		case ft.Kind() == reflect.String:
			f.kind = kindText
		case ft.Kind() == reflect.Bool:
			f.kind = kindBool
		case ft.Kind() >= reflect.Int && ft.Kind() <= reflect.Int64:
			f.kind = kindInt
		case ft.Kind() >= reflect.Uint && ft.Kind() <= reflect.Uint64:
			f.kind = kindUint
		default:
			panic(fmt.Sprintf("state: detector.Detection field %s has type %s, which the state database cannot store yet: add it to state/columns.go", sf.Name, ft))
		}
		out = append(out, f)
	}
	return out
}

// snake turns a Go field name into a column name: ParentPID parent_pid,
// SHA256 sha256, FSType fs_type, LinkedLogonID linked_logon_id.
func snake(name string) string {
	r := []rune(name)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 {
			prevLower := unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1])
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if prevLower || unicode.IsUpper(r[i-1]) && nextLower {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// columnDefs returns the column definitions the fields need.
func columnDefs() map[string]string {
	defs := map[string]string{}
	for _, f := range fields {
		for _, c := range f.cols {
			switch f.kind {
			case kindText, kindSession:
				defs[c] = "TEXT NOT NULL DEFAULT ''"
			case kindTime:
				defs[c] = "INTEGER"
			default:
				defs[c] = "INTEGER NOT NULL DEFAULT 0"
			}
		}
	}
	return defs
}

// fieldColumns is the quoted column list, in the order fieldArgs and
// fieldDests use.
func fieldColumns() string {
	var cols []string
	for _, f := range fields {
		for _, c := range f.cols {
			cols = append(cols, `"`+c+`"`)
		}
	}
	return strings.Join(cols, ", ")
}

func fieldCount() int {
	n := 0
	for _, f := range fields {
		n += len(f.cols)
	}
	return n
}

// fieldArgs returns d's values for fieldColumns.
func fieldArgs(d *detector.Detection) []any {
	v := reflect.ValueOf(d).Elem()
	args := make([]any, 0, fieldCount())
	for _, f := range fields {
		fv := v.FieldByIndex(f.index)
		switch f.kind {
		case kindText:
			args = append(args, fv.String())
		case kindInt:
			args = append(args, fv.Int())
		case kindUint:
			args = append(args, int64(fv.Uint()))
		case kindBool:
			args = append(args, fv.Bool())
		case kindTime:
			t := fv.Interface().(time.Time)
			if t.IsZero() {
				args = append(args, nil, nil)
			} else {
				args = append(args, t.Unix(), int64(t.Nanosecond()))
			}
		case kindSession:
			args = append(args, fv.Interface().(detector.SessionID).String())
		}
	}
	return args
}

// scanned holds one row's field values between Scan and fill.
type scanned struct {
	text  []string
	ints  []int64
	times []sql.NullInt64
	dests []any
}

func newScanned() *scanned {
	s := &scanned{
		text:  make([]string, fieldCount()),
		ints:  make([]int64, fieldCount()),
		times: make([]sql.NullInt64, fieldCount()),
	}
	i := 0
	for _, f := range fields {
		switch f.kind {
		case kindText, kindSession:
			s.dests = append(s.dests, &s.text[i])
		case kindTime:
			s.dests = append(s.dests, &s.times[i], &s.times[i+1])
		default:
			s.dests = append(s.dests, &s.ints[i])
		}
		i += len(f.cols)
	}
	return s
}

// fill sets d's fields from what was scanned.
func (s *scanned) fill(d *detector.Detection) error {
	v := reflect.ValueOf(d).Elem()
	i := 0
	for _, f := range fields {
		fv := v.FieldByIndex(f.index)
		switch f.kind {
		case kindText:
			fv.SetString(s.text[i])
		case kindInt:
			fv.SetInt(s.ints[i])
		case kindUint:
			fv.SetUint(uint64(s.ints[i]))
		case kindBool:
			fv.SetBool(s.ints[i] != 0)
		case kindTime:
			if s.times[i].Valid {
				fv.Set(reflect.ValueOf(time.Unix(s.times[i].Int64, s.times[i+1].Int64).UTC()))
			} else {
				fv.Set(reflect.ValueOf(time.Time{}))
			}
		case kindSession:
			if s.text[i] != "" {
				id, ok := detector.ParseSessionID(s.text[i])
				if !ok {
					return fmt.Errorf("%w: column %s: %q is not a session id", errDamaged, f.cols[0], s.text[i])
				}
				fv.Set(reflect.ValueOf(id))
			} else {
				fv.Set(reflect.ValueOf(detector.SessionID{}))
			}
		}
		i += len(f.cols)
	}
	return nil
}
