// Package ecs maps an Elastic Common Schema document (as Elastic Defend,
// winlogbeat, Elastic Agent integrations, Endgame, M365 Defender and
// SentinelOne Cloud Funnel write it) to a detector.Event.
//
// Field names may be nested ({"process":{"executable":...}}), dotted
// ({"process.executable":...}) or any mix of the two at any level
// ({"process":{"parent.executable":...}}): Elasticsearch treats them alike,
// and exports of _source keep whatever the shipper sent. Values may also be
// one-element arrays, as Kibana and the search API's "fields" return them.
package ecs

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source/winevent"
	"github.com/valyala/fastjson"
)

// The fields the mapping reads, by dotted ECS name.
const (
	fTimestamp = iota
	fProcessStart
	fEventCreated
	fEventType
	fEventCategory
	fExecutable
	fPID
	fParentPID
	fPPID // Endgame writes the parent pid as process.ppid
	fCommandLine
	fArgs
	fWorkingDirectory
	fParentExecutable
	fUserName
	fUserDomain
	fProcessUserName // SentinelOne puts the user here, already DOMAIN\name
	fProcessUserDomain
	fHostName
	fHostHostname
	fHostOSType
	fHostOSFamily
	fHostOSPlatform
	fSHA256
	fDataStreamDataset
	fEventDataset
	fEventModule
	fAgentType
	fWinlogChannel
	fWinlogEventID
	fWinlogProvider
	fWinlogComputer
	fWinlogEventData
	fWinlogRecordID
	fExtAuthenticationID
	fSessionInfoID
	fSessionInfoClientAddress
	fSessionInfoRelativeLogonTime
	fWinlogLogonID
	fWinlogLogonType
	fWinlogUserData
	fSourceIP
	fSourceDomain
	fM365LogonID
	nFields
)

var fieldNames = [nFields]string{
	fTimestamp:         "@timestamp",
	fProcessStart:      "process.start",
	fEventCreated:      "event.created",
	fEventType:         "event.type",
	fEventCategory:     "event.category",
	fExecutable:        "process.executable",
	fPID:               "process.pid",
	fParentPID:         "process.parent.pid",
	fPPID:              "process.ppid",
	fCommandLine:       "process.command_line",
	fArgs:              "process.args",
	fWorkingDirectory:  "process.working_directory",
	fParentExecutable:  "process.parent.executable",
	fUserName:          "user.name",
	fUserDomain:        "user.domain",
	fProcessUserName:   "process.user.name",
	fProcessUserDomain: "process.user.domain",
	fHostName:          "host.name",
	fHostHostname:      "host.hostname",
	fHostOSType:        "host.os.type",
	fHostOSFamily:      "host.os.family",
	fHostOSPlatform:    "host.os.platform",
	fSHA256:            "process.hash.sha256",
	fDataStreamDataset: "data_stream.dataset",
	fEventDataset:      "event.dataset",
	fEventModule:       "event.module",
	fAgentType:         "agent.type",
	fWinlogChannel:     "winlog.channel",
	fWinlogEventID:     "winlog.event_id",
	fWinlogProvider:    "winlog.provider_name",
	fWinlogComputer:    "winlog.computer_name",
	fWinlogEventData:   "winlog.event_data",
	fWinlogRecordID:    "winlog.record_id",

	fExtAuthenticationID:          "process.Ext.authentication_id",
	fSessionInfoID:                "process.Ext.session_info.id",
	fSessionInfoClientAddress:     "process.Ext.session_info.client_address",
	fSessionInfoRelativeLogonTime: "process.Ext.session_info.relative_logon_time",
	fWinlogLogonID:                "winlog.logon.id",
	fWinlogLogonType:              "winlog.logon.type",
	fWinlogUserData:               "winlog.user_data",
	fSourceIP:                     "source.ip",
	fSourceDomain:                 "source.domain",
	fM365LogonID:                  "m365_defender.event.logon.id",
}

// lookup classifies a dotted path: the field it names (>= 0), isPrefix for
// a proper prefix of a field's name (the walk descends only into those
// objects, so process.Ext or process.parent.thread are skipped), or
// notWanted. A switch, which the compiler turns into length and byte
// comparisons without converting the []byte, was measured about twice as
// fast as map lookups here; TestLookup keeps it in step with fieldNames.
func lookup(path []byte) int {
	switch string(path) {
	case "@timestamp":
		return fTimestamp
	case "process.start":
		return fProcessStart
	case "event.created":
		return fEventCreated
	case "event.type":
		return fEventType
	case "event.category":
		return fEventCategory
	case "process.executable":
		return fExecutable
	case "process.pid":
		return fPID
	case "process.parent.pid":
		return fParentPID
	case "process.ppid":
		return fPPID
	case "process.command_line":
		return fCommandLine
	case "process.args":
		return fArgs
	case "process.working_directory":
		return fWorkingDirectory
	case "process.parent.executable":
		return fParentExecutable
	case "user.name":
		return fUserName
	case "user.domain":
		return fUserDomain
	case "process.user.name":
		return fProcessUserName
	case "process.user.domain":
		return fProcessUserDomain
	case "host.name":
		return fHostName
	case "host.hostname":
		return fHostHostname
	case "host.os.type":
		return fHostOSType
	case "host.os.family":
		return fHostOSFamily
	case "host.os.platform":
		return fHostOSPlatform
	case "process.hash.sha256":
		return fSHA256
	case "data_stream.dataset":
		return fDataStreamDataset
	case "event.dataset":
		return fEventDataset
	case "event.module":
		return fEventModule
	case "agent.type":
		return fAgentType
	case "winlog.channel":
		return fWinlogChannel
	case "winlog.event_id":
		return fWinlogEventID
	case "winlog.provider_name":
		return fWinlogProvider
	case "winlog.computer_name":
		return fWinlogComputer
	case "winlog.event_data":
		return fWinlogEventData
	case "winlog.record_id":
		return fWinlogRecordID
	case "process.Ext.authentication_id":
		return fExtAuthenticationID
	case "process.Ext.session_info.id":
		return fSessionInfoID
	case "process.Ext.session_info.client_address":
		return fSessionInfoClientAddress
	case "process.Ext.session_info.relative_logon_time":
		return fSessionInfoRelativeLogonTime
	case "winlog.logon.id":
		return fWinlogLogonID
	case "winlog.logon.type":
		return fWinlogLogonType
	case "winlog.user_data":
		return fWinlogUserData
	case "source.ip":
		return fSourceIP
	case "source.domain":
		return fSourceDomain
	case "m365_defender.event.logon.id":
		return fM365LogonID
	case "agent", "data_stream", "event", "host", "host.os", "process", "process.hash", "process.parent", "process.user", "user", "winlog",
		"process.Ext", "process.Ext.session_info", "winlog.logon", "source", "m365_defender", "m365_defender.event", "m365_defender.event.logon":
		return isPrefix
	}
	return notWanted
}

const (
	notWanted = -1
	isPrefix  = -2
)

// Mapper maps ECS documents to events. It keeps scratch space between calls,
// so reuse one per goroutine; the zero value is ready to use.
type Mapper struct {
	slots   [nFields]*fastjson.Value
	last    [nSlots]string // see intern
	path    []byte
	num     []byte
	scratch []byte
	visit   func(key []byte, v *fastjson.Value)
	sb      strings.Builder
	attr    map[string]string // winlog values for attribution, reused
}

// Interning slots: one per field, plus the joined DOMAIN\name.
const (
	slotUser = nFields
	nSlots   = nFields + 1
)

// Map fills ev from the ECS document v (an object). Missing fields leave
// the Event's fields zero. A field of the wrong JSON type (an object where a
// string belongs, a pid that is not a number...) makes Map return an error
// naming the field; ev is then incomplete and must not be used.
func (m *Mapper) Map(v *fastjson.Value, ev *detector.Event) error {
	o, err := v.Object()
	if err != nil {
		return fmt.Errorf("%w: it is a JSON %s", ErrNotObject, v.Type())
	}
	if m.visit == nil {
		m.visit = m.visitKey
	}
	m.slots = [nFields]*fastjson.Value{}
	m.path = m.path[:0]
	o.Visit(m.visit)
	return m.fill(ev)
}

// visitKey records wanted fields and descends into objects on the way to
// one. m.path holds the dotted name of the object being visited.
func (m *Mapper) visitKey(key []byte, v *fastjson.Value) {
	n := len(m.path)
	if n > 0 {
		m.path = append(m.path, '.')
	}
	m.path = append(m.path, key...)
	switch id := lookup(m.path); {
	case id >= 0:
		// The first spelling wins when a document has both forms.
		if m.slots[id] == nil && v.Type() != fastjson.TypeNull {
			m.slots[id] = v
		}
	case id == isPrefix && v.Type() == fastjson.TypeObject:
		o, _ := v.Object()
		o.Visit(m.visit)
	}
	m.path = m.path[:n]
}

func (m *Mapper) fill(ev *detector.Event) error {
	*ev = detector.Event{}
	var err error
	for _, id := range [...]int{fTimestamp, fProcessStart, fEventCreated} {
		if ev.Time, err = m.time(id); err != nil {
			return err
		}
		if !ev.Time.IsZero() {
			break
		}
	}
	var exactType bool
	if ev.Type, exactType, err = m.eventType(); err != nil {
		return err
	}
	if ev.Type != detector.TypeOther && !exactType {
		ev.Inferred |= detector.InferredType
	}
	strs := [...]struct {
		dst *string
		ids []int
	}{
		{&ev.Executable, []int{fExecutable}},
		{&ev.CommandLine, []int{fCommandLine}},
		{&ev.WorkingDirectory, []int{fWorkingDirectory}},
		{&ev.ParentExecutable, []int{fParentExecutable}},
		{&ev.Host, []int{fHostName, fHostHostname}},
		{&ev.SHA256, []int{fSHA256}},
		{&ev.Source, []int{fDataStreamDataset, fEventDataset, fEventModule, fAgentType, fWinlogChannel}},
	}
	for _, s := range strs {
		for _, id := range s.ids {
			if *s.dst, err = m.str(id); err != nil {
				return err
			}
			if *s.dst != "" {
				break
			}
		}
	}
	ev.RecordID = m.recordID()
	if hasUpper(ev.SHA256) {
		ev.SHA256 = strings.ToLower(ev.SHA256)
	}
	if ev.CommandLine == "" {
		if ev.CommandLine, err = m.args(); err != nil {
			return err
		}
	}
	if ev.PID, err = m.int(fPID); err != nil {
		return err
	}
	if ev.ParentPID, err = m.int(fParentPID); err != nil {
		return err
	}
	if ev.ParentPID == 0 {
		if ev.ParentPID, err = m.int(fPPID); err != nil {
			return err
		}
	}
	if ev.User, err = m.user(fUserName, fUserDomain); err != nil {
		return err
	}
	if ev.User == "" {
		if ev.User, err = m.user(fProcessUserName, fProcessUserDomain); err != nil {
			return err
		}
	}
	if ev.Executable == "" && m.slots[fWinlogEventData] != nil {
		if err := m.winlog(ev); err != nil {
			return err
		}
	}
	var declared bool
	if ev.HostOS, declared, err = m.hostOS(ev); err != nil {
		return err
	}
	if !declared {
		ev.Inferred |= detector.InferredHostOS
	}
	m.attribution(ev)
	return nil
}

// winlog maps a winlogbeat document that was never through the ingest
// pipeline that fills process.* (winlogbeat writing to Logstash, Kafka or a
// file): Sysmon 1 and 4688 then carry the process only in
// winlog.event_data, in the same names as the event log, so the shared
// Windows mapping reads them. Fields the document has in ECS form win.
func (m *Mapper) winlog(ev *detector.Event) error {
	id, err := m.int(fWinlogEventID)
	if err != nil {
		return err
	}
	r := winevent.Record{EventID: int(id)}
	if r.Channel, err = m.str(fWinlogChannel); err != nil {
		return err
	}
	if r.Provider, err = m.str(fWinlogProvider); err != nil {
		return err
	}
	if !(r.IsSysmon() && id == 1 || r.IsSecurity() && id == 4688) {
		return nil
	}
	if r.Computer, err = m.str(fWinlogComputer); err != nil {
		return err
	}
	o, err := m.slots[fWinlogEventData].Object()
	if err != nil {
		return fmt.Errorf("winlog.event_data: want an object, got %s", m.slots[fWinlogEventData].Type())
	}
	r.Data = make(map[string]string, o.Len())
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch v.Type() {
		case fastjson.TypeString:
			b, _ := v.StringBytes()
			r.Data[string(k)] = string(b)
		case fastjson.TypeNumber:
			r.Data[string(k)] = string(v.MarshalTo(nil))
		}
	})
	var w detector.Event
	r.Event(&w)
	if m.slots[fEventType] == nil {
		ev.Type = w.Type
		if ev.Type != detector.TypeOther {
			ev.Inferred |= detector.InferredType
		}
	}
	if ev.Executable == "" && w.Executable != "" {
		ev.Inferred |= detector.InferredExecutable
	}
	for _, f := range [...]struct{ dst, src *string }{
		{&ev.Executable, &w.Executable}, {&ev.CommandLine, &w.CommandLine},
		{&ev.WorkingDirectory, &w.WorkingDirectory}, {&ev.ParentExecutable, &w.ParentExecutable},
		{&ev.User, &w.User}, {&ev.Host, &w.Host}, {&ev.SHA256, &w.SHA256},
	} {
		if *f.dst == "" {
			*f.dst = *f.src
		}
	}
	if ev.PID == 0 {
		ev.PID = w.PID
	}
	if ev.ParentPID == 0 {
		ev.ParentPID = w.ParentPID
	}
	if ev.Time.IsZero() {
		ev.Time = w.Time
	}
	return nil
}

// scalar returns the value of field id, unwrapping a one-element array, or
// nil when the field is absent or null.
func (m *Mapper) scalar(id int) (*fastjson.Value, error) {
	v := m.slots[id]
	if v == nil {
		return nil, nil
	}
	if v.Type() == fastjson.TypeArray {
		a, _ := v.Array()
		switch len(a) {
		case 0:
			return nil, nil
		case 1:
			v = a[0]
		default:
			return nil, fmt.Errorf("%s: want one value, got an array of %d", fieldNames[id], len(a))
		}
		if v.Type() == fastjson.TypeNull {
			return nil, nil
		}
	}
	return v, nil
}

// str returns field id as a newly allocated string (the parser's memory is
// reused for the next document). Numbers are taken as written.
func (m *Mapper) str(id int) (string, error) {
	b, err := m.raw(id)
	if len(b) == 0 || err != nil {
		return "", err
	}
	return m.intern(id, b), nil
}

// raw returns the bytes of a string or number field, valid until the next
// document; nil when absent.
func (m *Mapper) raw(id int) ([]byte, error) {
	v, err := m.scalar(id)
	if v == nil || err != nil {
		return nil, err
	}
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return b, nil
	case fastjson.TypeNumber:
		m.num = v.MarshalTo(m.num[:0])
		return m.num, nil
	default:
		return nil, fmt.Errorf("%s: want a string, got %s", fieldNames[id], v.Type())
	}
}

// intern returns b as a string, reusing the string of the previous
// document's field slot when the bytes are the same. Logs repeat host,
// dataset, user and parent from one event to the next, so this saves most
// of the per-event allocations.
func (m *Mapper) intern(slot int, b []byte) string {
	if string(b) == m.last[slot] {
		return m.last[slot]
	}
	s := string(b)
	m.last[slot] = s
	return s
}

// int reads a process id written as a JSON number or a decimal or 0x-hex
// string (4688 writes hex, some pipelines keep it).
func (m *Mapper) int(id int) (int64, error) {
	v, err := m.scalar(id)
	if v == nil || err != nil {
		return 0, err
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		n, err := v.Int64()
		if err != nil {
			return 0, fmt.Errorf("%s: %s is not an integer", fieldNames[id], v.MarshalTo(nil))
		}
		return n, nil
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		n, ok := ParseInt(string(b))
		if !ok {
			return 0, fmt.Errorf("%s: %q is not an integer", fieldNames[id], b)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("%s: want a number, got %s", fieldNames[id], v.Type())
	}
}

// recordID reads winlog.record_id, which winlogbeat writes as a string of
// digits (a JSON number in some pipelines). It only serves to recognize a
// record read twice, so a value that is not a record number is taken as
// absent (0) rather than costing the document.
func (m *Mapper) recordID() uint64 {
	b, err := m.raw(fWinlogRecordID)
	if len(b) == 0 || err != nil {
		return 0
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// ParseInt reads a decimal or 0x-prefixed hexadecimal integer. An empty
// string is 0.
func ParseInt(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, true
	}
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		n, err := strconv.ParseUint(s[2:], 16, 63)
		return int64(n), err == nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func (m *Mapper) time(id int) (time.Time, error) {
	v, err := m.scalar(id)
	if v == nil || err != nil {
		return time.Time{}, err
	}
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		t, ok := ParseTime(string(b))
		if !ok {
			return time.Time{}, fmt.Errorf("%s: %q is not a time", fieldNames[id], b)
		}
		return t, nil
	case fastjson.TypeNumber:
		// Elasticsearch's date type takes epoch milliseconds.
		n, err := v.Int64()
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %s is not epoch milliseconds", fieldNames[id], v.MarshalTo(nil))
		}
		return time.UnixMilli(n).UTC(), nil
	default:
		return time.Time{}, fmt.Errorf("%s: want a time, got %s", fieldNames[id], v.Type())
	}
}

// timeLayouts are the forms seen in ECS exports: RFC 3339 with or without
// zone (no zone means UTC, as Elasticsearch assumes), with a space instead
// of T (Sysmon's UtcTime, NXLog).
var timeLayouts = [...]string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

// ParseTime parses the time forms found in ECS and Windows JSON exports,
// including epoch milliseconds written as a string. Times without a zone are
// UTC.
func ParseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(n).UTC(), true
	}
	return time.Time{}, false
}

// each calls f with each string of a field that may hold one string or an
// array of them (event.type, event.category, process.args). The bytes are
// only valid during the call.
func (m *Mapper) each(id int, f func([]byte)) error {
	v := m.slots[id]
	if v == nil {
		return nil
	}
	one := func(v *fastjson.Value) error {
		switch v.Type() {
		case fastjson.TypeString:
			b, _ := v.StringBytes()
			f(b)
		case fastjson.TypeNull:
		default:
			return fmt.Errorf("%s: want a string, got %s", fieldNames[id], v.Type())
		}
		return nil
	}
	if v.Type() != fastjson.TypeArray {
		return one(v)
	}
	a, _ := v.Array()
	for _, e := range a {
		if err := one(e); err != nil {
			return err
		}
	}
	return nil
}

// eventType classifies the document. event.type "start" is a process start;
// "process_started" is the pre-ECS-1.5 value early versions of the rule
// accepted, and "process_start" (Endgame and old winlogbeat) is kept with it
// as a legacy start. Anything whose event.category is present and lacks
// "process" is not a process start whatever its type: Elastic Defend marks
// network connections event.type "start" too, and the rule's "process where"
// excludes them. exact reports whether an ECS query would see the same:
// event.category holds "process" and event.type holds the type's own
// spelling, both as written (EQL's == compares case-sensitively).
func (m *Mapper) eventType() (t detector.EventType, exact bool, err error) {
	var start, legacy, exactStart, exactLegacy bool
	err = m.each(fEventType, func(s []byte) {
		switch {
		case equalFold(s, "start"):
			start = true
			exactStart = exactStart || string(s) == "start"
		case equalFold(s, "process_started"), equalFold(s, "process_start"):
			legacy = true
			exactLegacy = exactLegacy || string(s) == "process_started"
		}
	})
	if err != nil {
		return 0, false, err
	}
	if !start && !legacy {
		return detector.TypeOther, false, nil
	}
	exactCategory := false
	if m.slots[fEventCategory] != nil {
		process := false
		err := m.each(fEventCategory, func(s []byte) {
			if equalFold(s, "process") {
				process = true
				exactCategory = exactCategory || string(s) == "process"
			}
		})
		if err != nil {
			return 0, false, err
		}
		if !process {
			return detector.TypeOther, false, nil
		}
	}
	if start {
		return detector.TypeStart, exactStart && exactCategory, nil
	}
	return detector.TypeStartLegacy, exactLegacy && exactCategory, nil
}

// args joins process.args into a command line, quoting arguments that hold
// blanks so the line reads back the same way.
func (m *Mapper) args() (string, error) {
	v := m.slots[fArgs]
	if v == nil {
		return "", nil
	}
	if v.Type() != fastjson.TypeArray {
		return m.str(fArgs)
	}
	m.sb.Reset()
	err := m.each(fArgs, func(s []byte) {
		if m.sb.Len() > 0 {
			m.sb.WriteByte(' ')
		}
		if len(s) == 0 || (bytes.ContainsAny(s, " \t") && s[0] != '"') {
			m.sb.WriteByte('"')
			m.sb.Write(s)
			m.sb.WriteByte('"')
		} else {
			m.sb.Write(s)
		}
	})
	if err != nil {
		return "", err
	}
	return m.sb.String(), nil
}

func (m *Mapper) user(nameID, domainID int) (string, error) {
	name, err := m.raw(nameID)
	if len(name) == 0 || err != nil {
		return "", err
	}
	m.scratch = append(m.scratch[:0], name...) // raw may reuse its buffer
	domain, err := m.raw(domainID)
	if err != nil {
		return "", err
	}
	if len(domain) > 0 && bytes.IndexByte(m.scratch, '\\') < 0 {
		m.scratch = append(append(append(m.scratch[:0], domain...), '\\'), name...)
	}
	return m.intern(slotUser, m.scratch), nil
}

// hostOS returns host.os.type, else host.os.family or platform normalized,
// else what the source implies. declared reports whether the result is
// host.os.type exactly as the document wrote it, which is all an ECS query
// such as Elastic's `host.os.type == "windows"` sees.
func (m *Mapper) hostOS(ev *detector.Event) (os string, declared bool, err error) {
	for _, id := range [...]int{fHostOSType, fHostOSFamily, fHostOSPlatform} {
		b, err := m.raw(id)
		if err != nil {
			return "", false, err
		}
		if os := normalizeOS(b); os != "" {
			return os, id == fHostOSType && string(b) == os, nil
		}
	}
	os, err = m.impliedOS(ev)
	return os, false, err
}

// NormalizeOS maps host.os.type, family or platform values to the three
// host.os.type spellings the rule knows, or "" when s names none of them.
func NormalizeOS(s string) string { return normalizeOS([]byte(s)) }

func normalizeOS(b []byte) string {
	b = bytes.TrimSpace(b)
	var lower [16]byte
	if len(b) > len(lower) {
		return ""
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	switch string(lower[:len(b)]) {
	case "windows", "win32", "win64":
		return detector.OSWindows
	case "macos", "darwin", "mac os x", "osx", "mac":
		return detector.OSMacOS
	case "linux", "debian", "ubuntu", "redhat", "rhel", "centos", "fedora", "suse", "opensuse",
		"sles", "arch", "amazon", "amzn", "alpine", "oracle", "rocky", "almalinux", "gentoo":
		return detector.OSLinux
	}
	return ""
}

// impliedOS is the host OS a document's source implies when it does not say:
// winlogbeat and the Windows integrations only read Windows event logs,
// Endgame only ran on Windows in the data the rule reads. M365 Defender and
// SentinelOne cover several OSes, so only a Windows-shaped executable path
// settles it for them.
func (m *Mapper) impliedOS(ev *detector.Event) (string, error) {
	if m.slots[fWinlogChannel] != nil {
		return detector.OSWindows, nil
	}
	var labels [4]string
	for i, id := range [...]int{fDataStreamDataset, fEventDataset, fEventModule, fAgentType} {
		s, err := m.str(id)
		if err != nil {
			return "", err
		}
		labels[i] = strings.ToLower(s)
	}
	for _, l := range labels {
		switch {
		case l == "":
		case strings.HasPrefix(l, "windows."), l == "windows", l == "system.security",
			l == "winlogbeat", l == "sysmon", l == "security", l == "endgame", l == "esensor",
			strings.HasPrefix(l, "endgame."):
			return detector.OSWindows, nil
		case strings.HasPrefix(l, "m365_defender"), strings.HasPrefix(l, "sentinel_one_cloud_funnel"),
			strings.HasPrefix(l, "crowdstrike"):
			if windowsPath(ev.Executable) {
				return detector.OSWindows, nil
			}
		}
	}
	return "", nil
}

// windowsPath reports whether p is a drive-letter, UNC or NT object path.
func windowsPath(p string) bool {
	if len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') {
		c := p[0] | 0x20
		return 'a' <= c && c <= 'z'
	}
	return len(p) >= 2 && p[0] == '\\'
}

// ErrNotObject is returned by Map for a document that is not a JSON object.
var ErrNotObject = errors.New("document is not a JSON object")

// equalFold reports whether b equals the lower-case ASCII string s, ignoring
// case, without converting b to a string.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(s) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func hasUpper(s string) bool {
	for i := range len(s) {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}
