package evtx

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/Velocidex/ordereddict"
	"github.com/tsclientwatch/tsclientwatch/source/winevent"
)

// FILETIME counts 100 ns intervals since 1601-01-01; this many separate it
// from the Unix epoch.
const filetimeUnixOffset = 116444736000000000

func filetimeToTime(ft uint64) time.Time {
	if ft < filetimeUnixOffset {
		return time.Time{}
	}
	d := ft - filetimeUnixOffset
	return time.Unix(int64(d/1e7), int64(d%1e7)*100).UTC()
}

// toRecord maps the decoder's tree for one record (Event -> System,
// EventData or UserData) onto rec. The decoder gives typed values from
// templates (numbers, float seconds for FILETIMEs) and strings from plain
// text, so every field accepts both.
func toRecord(tree any, s *recordSpan, rec *winevent.Record) error {
	*rec = winevent.Record{}
	root, _ := tree.(*ordereddict.Dict)
	if root == nil {
		return errors.New("record decodes to no XML document")
	}
	event := dict(root, "Event")
	if event == nil {
		return errors.New("record has no Event element")
	}
	sys := dict(event, "System")
	if sys == nil {
		return errors.New("record has no System element")
	}
	if p := dict(sys, "Provider"); p != nil {
		rec.Provider = str(get(p, "Name"))
	}
	rec.Channel = str(get(sys, "Channel"))
	rec.Computer = str(get(sys, "Computer"))
	id, ok := eventID(get(sys, "EventID"))
	if !ok {
		return errors.New("record has no usable System/EventID")
	}
	rec.EventID = id
	rec.RecordID = s.id
	rec.Number = s.id
	if v, ok := uintOf(get(sys, "EventRecordID")); ok {
		rec.RecordID = v
	}
	if tc := dict(sys, "TimeCreated"); tc != nil {
		rec.Time = timeOf(get(tc, "SystemTime"))
	}
	if rec.Time.IsZero() {
		// The record header's written time is the best remaining clue.
		rec.Time = filetimeToTime(s.filetime)
	}
	if sec := dict(sys, "Security"); sec != nil {
		rec.UserSID = str(get(sec, "UserID"))
	}

	rec.Data = make(map[string]string)
	if ed, present := event.Get("EventData"); present {
		eventData(ed, rec.Data)
	} else if ud := dict(event, "UserData"); ud != nil {
		// UserData holds one provider-defined element; its leaves stand in
		// for EventData's named values.
		for _, k := range ud.Keys() {
			v, _ := ud.Get(k)
			flatten(v, k, rec.Data)
		}
	}
	return nil
}

func get(d *ordereddict.Dict, key string) any {
	v, _ := d.Get(key)
	return v
}

func dict(d *ordereddict.Dict, key string) *ordereddict.Dict {
	v, _ := get(d, key).(*ordereddict.Dict)
	return v
}

// eventID reads System/EventID: a number, a string, or (when the element
// carries a Qualifiers attribute) a dict holding the number under "Value"
// (the decoder's name for element text) or "#text" (evtx_dump's).
func eventID(v any) (int, bool) {
	if d, ok := v.(*ordereddict.Dict); ok {
		for _, k := range []string{"Value", "#text"} {
			if x, ok := d.Get(k); ok {
				v = x
				break
			}
		}
	}
	n, ok := uintOf(v)
	if !ok || n > math.MaxInt32 {
		return 0, false
	}
	return int(n), true
}

func uintOf(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case int:
		if x >= 0 {
			return uint64(x), true
		}
	case int64:
		if x >= 0 {
			return uint64(x), true
		}
	case string:
		n, err := strconv.ParseUint(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// timeOf reads SystemTime: float seconds since the Unix epoch (how the
// decoder renders a FILETIME; a float64 holds it to about 0.25 µs, so it is
// rounded to the microsecond) or the text form Windows renders.
func timeOf(v any) time.Time {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || x <= 0 || x > 1e11 {
			return time.Time{}
		}
		sec, frac := math.Modf(x)
		us := math.Round(frac * 1e6)
		return time.Unix(int64(sec), int64(us)*1000).UTC()
	case string:
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(x))
		if err != nil {
			return time.Time{}
		}
		return t.UTC()
	}
	return time.Time{}
}

// eventData fills out from EventData, which the decoder gives either
// already as name -> value (templated records) or as the raw shape of
// <Data Name="n">v</Data> elements: a "Data" key holding one {Name, Value}
// dict, a list of them, or unnamed values.
func eventData(v any, out map[string]string) {
	d, ok := v.(*ordereddict.Dict)
	if !ok {
		if v != nil {
			out["Data"] = str(v)
		}
		return
	}
	for _, k := range d.Keys() {
		val, _ := d.Get(k)
		if k != "Data" {
			setFirst(out, k, str(val))
			continue
		}
		items, isList := val.([]any)
		if !isList {
			items = []any{val}
		}
		for i, it := range items {
			if item, ok := it.(*ordereddict.Dict); ok {
				if name, ok := item.Get("Name"); ok {
					value, _ := item.Get("Value")
					setFirst(out, str(name), str(value))
					continue
				}
			}
			// An unnamed <Data>: number it as Windows' own renderers do.
			key := "Data"
			if len(items) > 1 {
				key = "Data" + strconv.Itoa(i+1)
			}
			setFirst(out, key, str(it))
		}
	}
}

// flatten stores the leaves of v under their own element names.
func flatten(v any, key string, out map[string]string) {
	d, ok := v.(*ordereddict.Dict)
	if !ok {
		setFirst(out, key, str(v))
		return
	}
	for _, k := range d.Keys() {
		val, _ := d.Get(k)
		flatten(val, k, out)
	}
}

func setFirst(m map[string]string, k, v string) {
	if _, dup := m[k]; !dup {
		m[k] = v
	}
}

// str renders a decoded value as the text Windows' XML would show, as
// closely as the decoder's output allows: it keeps no distinction between
// plain and hex integers, so all integers are decimal (winevent accepts
// both).
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case uint8:
		return strconv.FormatUint(uint64(x), 10)
	case uint16:
		return strconv.FormatUint(uint64(x), 10)
	case uint32:
		return strconv.FormatUint(uint64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	case float64: // a FILETIME value
		if t := timeOf(x); !t.IsZero() {
			return t.Format(time.RFC3339Nano)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []byte:
		return strings.ToUpper(hex.EncodeToString(x))
	case []string:
		return strings.Join(x, "\n")
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = str(e)
		}
		return strings.Join(parts, "\n")
	case *ordereddict.Dict:
		if b, err := json.Marshal(x); err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(v)
}
