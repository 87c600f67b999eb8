// Package winjson decodes Windows events exported as JSON into
// winevent.Record, so they share the one Windows mapping with the EVTX and
// event XML readers. Two shapes exist in the wild:
//
//   - evtx_dump style (omerbenamram/evtx, python-evtx, SigmaHQ regression
//     data): {"Event":{"System":{"Provider":{"#attributes":{"Name":...}},
//     "EventID":1, ...},"EventData":{"Image":...}}}.
//   - flat style (NXLog im_msvistalog, the OTRF/Mordor data sets, many
//     Logstash pipelines): one object whose top-level keys are the System
//     fields (EventID, Channel, SourceName, Hostname, EventTime...) and the
//     EventData fields (Image, NewProcessName...) side by side.
//
// Values may be JSON numbers or strings in either shape (ProcessId 6788 or
// "0x1a84").
package winjson

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source/ecs"
	"github.com/tsclientwatch/tsclientwatch/source/winevent"
	"github.com/valyala/fastjson"
)

// Kind is the shape of a Windows JSON document.
type Kind uint8

// The shapes Detect recognizes.
const (
	KindNone     Kind = iota // not a Windows event export
	KindEvtxDump             // {"Event":{"System":...,"EventData":...}}
	KindFlat                 // top-level EventID plus Channel or SourceName
)

// Detect tells which Windows export shape v has, if any.
func Detect(v *fastjson.Value) Kind {
	if v.Type() != fastjson.TypeObject {
		return KindNone
	}
	if sys := v.Get("Event", "System"); sys != nil && sys.Type() == fastjson.TypeObject {
		return KindEvtxDump
	}
	if v.Get("EventID") != nil && (v.Get("Channel") != nil || v.Get("SourceName") != nil) {
		return KindFlat
	}
	return KindNone
}

// ErrNotWindows is returned for a document that is neither shape.
var ErrNotWindows = errors.New("not a Windows event export (no Event.System, no EventID with Channel or SourceName)")

// Mapper decodes documents into a Record it reuses between calls; use one
// per goroutine. The zero value is ready to use.
type Mapper struct {
	rec   winevent.Record
	visit func(key []byte, v *fastjson.Value)
	err   error
}

// Map fills ev from the Windows event document v.
func (m *Mapper) Map(v *fastjson.Value, ev *detector.Event) error {
	r, err := m.Record(v)
	if err != nil {
		return err
	}
	r.Event(ev)
	return nil
}

// Record decodes v into a Record that stays valid until the next call.
func (m *Mapper) Record(v *fastjson.Value) (*winevent.Record, error) {
	if m.rec.Data == nil {
		m.rec.Data = make(map[string]string, 32)
	}
	clear(m.rec.Data)
	data := m.rec.Data
	m.rec = winevent.Record{Data: data}
	var err error
	switch Detect(v) {
	case KindEvtxDump:
		err = m.evtxDump(v.Get("Event"))
	case KindFlat:
		err = m.flat(v)
	default:
		return nil, ErrNotWindows
	}
	if err != nil {
		return nil, err
	}
	return &m.rec, nil
}

func (m *Mapper) evtxDump(e *fastjson.Value) error {
	sys := e.Get("System")
	r := &m.rec
	var err error
	if r.Provider, err = text(sys.Get("Provider", "#attributes", "Name"), "Event.System.Provider.Name"); err != nil {
		return err
	}
	if r.Channel, err = text(sys.Get("Channel"), "Event.System.Channel"); err != nil {
		return err
	}
	if r.Computer, err = text(sys.Get("Computer"), "Event.System.Computer"); err != nil {
		return err
	}
	if r.UserSID, err = text(sys.Get("Security", "#attributes", "UserID"), "Event.System.Security.UserID"); err != nil {
		return err
	}
	id := sys.Get("EventID")
	if id == nil {
		return errors.New("Event.System.EventID: missing")
	}
	if r.EventID, err = eventID(id, "Event.System.EventID"); err != nil {
		return err
	}
	rid, err := text(sys.Get("EventRecordID"), "Event.System.EventRecordID")
	if err != nil {
		return err
	}
	if rid != "" {
		if r.RecordID, err = strconv.ParseUint(rid, 10, 64); err != nil {
			return fmt.Errorf("Event.System.EventRecordID: %q is not a number", rid)
		}
	}
	if r.Time, err = timeField(sys.Get("TimeCreated", "#attributes", "SystemTime"), "Event.System.TimeCreated.SystemTime"); err != nil {
		return err
	}
	ed := e.Get("EventData")
	if ed == nil || ed.Type() == fastjson.TypeNull {
		if ud := e.Get("UserData"); ud != nil && ud.Type() == fastjson.TypeObject {
			// UserData holds one provider-defined element
			// (LocalSessionManager's EventXML); its leaves stand in for
			// EventData's named values, as in the EVTX and XML readers.
			userData(ud, r.Data, 0)
		}
		return nil
	}
	o, err := ed.Object()
	if err != nil {
		return fmt.Errorf("Event.EventData: want an object, got %s", ed.Type())
	}
	// Some converters keep the XML shape: "Data":[{"#attributes":{"Name":"Image"},"#text":"..."}].
	if d := o.Get("Data"); d != nil && d.Type() == fastjson.TypeArray {
		a, _ := d.Array()
		for _, item := range a {
			name, err := text(item.Get("#attributes", "Name"), "Event.EventData.Data.Name")
			if err != nil {
				return err
			}
			if name == "" {
				continue
			}
			val, err := text(item.Get("#text"), "Event.EventData.Data."+name)
			if err != nil {
				return err
			}
			r.Data[name] = val
		}
		return nil
	}
	m.err = nil
	o.Visit(func(key []byte, v *fastjson.Value) {
		if m.err != nil || len(key) > 0 && key[0] == '#' {
			return // "#attributes" of the EventData element itself
		}
		s, err := value(v)
		if err != nil {
			// Only fields the mapping reads make the record bad; an odd
			// value elsewhere (binary blobs, nested XML) is left out.
			if mapped[string(key)] {
				m.err = fmt.Errorf("Event.EventData.%s: %w", key, err)
			}
			return
		}
		r.Data[string(key)] = s
	})
	return m.err
}

// maxUserDataDepth bounds the walk of UserData: providers nest their
// values two or three levels deep.
const maxUserDataDepth = 4

// userData stores the scalar leaves of v under their own names (the first
// of a name wins), leaving out attributes and values it cannot read.
func userData(v *fastjson.Value, out map[string]string, depth int) {
	o, err := v.Object()
	if err != nil || depth > maxUserDataDepth {
		return
	}
	o.Visit(func(key []byte, v *fastjson.Value) {
		if len(key) > 0 && key[0] == '#' {
			return
		}
		if v.Type() == fastjson.TypeObject && v.Get("#text") == nil {
			userData(v, out, depth+1)
			return
		}
		if _, dup := out[string(key)]; dup {
			return
		}
		if s, err := value(v); err == nil {
			out[string(key)] = s
		}
	})
}

// Header keys of the flat shape, and what the mapping reads from each.
// Every other top-level key is EventData.
var (
	flatProvider = []string{"SourceName", "ProviderName", "Provider"}
	flatComputer = []string{"Hostname", "Computer", "computer_name", "ComputerName"}
	flatTime     = []string{"TimeCreated", "@timestamp", "EventTime"}
	flatRecordID = []string{"RecordNumber", "EventRecordID", "RecordID"}
)

func (m *Mapper) flat(v *fastjson.Value) error {
	r := &m.rec
	var err error
	if r.EventID, err = eventID(v.Get("EventID"), "EventID"); err != nil {
		return err
	}
	if r.Channel, err = text(v.Get("Channel"), "Channel"); err != nil {
		return err
	}
	if r.Provider, err = firstText(v, flatProvider); err != nil {
		return err
	}
	if r.Computer, err = firstText(v, flatComputer); err != nil {
		return err
	}
	if r.Computer == "" {
		// NXLog's "host" is the collector; use it only when nothing names
		// the computer itself. Logstash may make it an object.
		h := v.Get("host")
		if h != nil && h.Type() == fastjson.TypeObject {
			h = h.Get("name")
		}
		if r.Computer, err = text(h, "host"); err != nil {
			return err
		}
	}
	if r.UserSID, err = text(v.Get("UserID"), "UserID"); err != nil {
		return err
	}
	rid, err := firstText(v, flatRecordID)
	if err != nil {
		return err
	}
	if rid != "" {
		if r.RecordID, err = strconv.ParseUint(rid, 10, 64); err != nil {
			return fmt.Errorf("RecordNumber: %q is not a number", rid)
		}
	}
	// TimeCreated and @timestamp carry a zone; NXLog's EventTime is the
	// collector's local time without one, so it comes last. Sysmon's
	// UtcTime, when present, overrides all of them in winevent.
	for _, k := range flatTime {
		if r.Time, err = timeField(v.Get(k), k); err != nil {
			return err
		}
		if !r.Time.IsZero() {
			break
		}
	}
	o, _ := v.Object()
	m.err = nil
	if m.visit == nil {
		m.visit = m.flatData
	}
	o.Visit(m.visit)
	return m.err
}

// flatData copies one top-level key of a flat document into Data. Objects,
// arrays (tags) and the rendered Message are not event data.
func (m *Mapper) flatData(key []byte, v *fastjson.Value) {
	switch v.Type() {
	case fastjson.TypeString, fastjson.TypeNumber:
	default:
		if mapped[string(key)] && m.err == nil && v.Type() != fastjson.TypeNull {
			m.err = fmt.Errorf("%s: want a string or number, got %s", key, v.Type())
		}
		return
	}
	if string(key) == "Message" {
		return
	}
	s, _ := value(v)
	m.rec.Data[string(key)] = s
}

// mapped names the EventData fields winevent reads; a value of the wrong
// type in one of them makes the record bad rather than silently empty.
var mapped = map[string]bool{
	"Image": true, "ProcessId": true, "CommandLine": true, "CurrentDirectory": true, "User": true,
	"ParentProcessId": true, "ParentImage": true, "Hashes": true, "UtcTime": true,
	"NewProcessName": true, "NewProcessId": true, "ParentProcessName": true,
	"SubjectDomainName": true, "SubjectUserName": true,
}

func firstText(v *fastjson.Value, keys []string) (string, error) {
	for _, k := range keys {
		s, err := text(v.Get(k), k)
		if err != nil || s != "" {
			return s, err
		}
	}
	return "", nil
}

// text returns a string or number value as text (numbers as written), ""
// for absent or null, and the "#text" of an {"#attributes":..,"#text":..}
// object, which evtx_dump writes for elements with attributes.
func text(v *fastjson.Value, field string) (string, error) {
	s, err := value(v)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return s, nil
}

func value(v *fastjson.Value) (string, error) {
	if v == nil {
		return "", nil
	}
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return string(b), nil
	case fastjson.TypeNumber:
		return string(v.MarshalTo(nil)), nil
	case fastjson.TypeNull:
		return "", nil
	case fastjson.TypeTrue:
		return "true", nil
	case fastjson.TypeFalse:
		return "false", nil
	case fastjson.TypeObject:
		if t := v.Get("#text"); t != nil && t.Type() != fastjson.TypeObject {
			return value(t)
		}
		if v.Get("#attributes") != nil {
			return "", nil // an element with attributes only
		}
	}
	return "", fmt.Errorf("want a string or number, got %s", v.Type())
}

func eventID(v *fastjson.Value, field string) (int, error) {
	s, err := text(v, field)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: %q is not an event id", field, s)
	}
	return n, nil
}

func timeField(v *fastjson.Value, field string) (t time.Time, err error) {
	s, err := text(v, field)
	if err != nil || s == "" {
		return t, err
	}
	t, ok := ecs.ParseTime(s)
	if !ok {
		return t, fmt.Errorf("%s: %q is not a time", field, s)
	}
	return t, nil
}
