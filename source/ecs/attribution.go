package ecs

import (
	"math"
	"strconv"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source/winevent"
	"github.com/valyala/fastjson"
)

// attribution fills the logon session and client fields of ev: from
// Elastic Defend's process.Ext (authentication_id, session_info), from
// Defender for Endpoint's logon id, and for winlogbeat and Elastic Agent
// Windows documents from winlog.event_data and winlog.user_data through the
// shared Windows mapping (Sysmon 1, 4688, and the logon and session events
// the tracker learns from). A value of the wrong type here is taken as
// absent: attribution is extra, and must not cost the document its
// process start.
func (m *Mapper) attribution(ev *detector.Event) {
	if b, _ := m.raw(fExtAuthenticationID); len(b) > 0 {
		ev.LogonID, _ = detector.ParseLogonID(string(b))
	}
	if b, _ := m.raw(fSessionInfoID); len(b) > 0 {
		ev.SessionID, _ = detector.ParseSessionID(string(b))
	}
	if b, _ := m.raw(fSessionInfoClientAddress); len(b) > 0 {
		ev.ClientAddress = detector.CanonicalAddress(string(b))
		ev.Attribution = detector.AttributionEvent
	}
	if rel, ok := m.float(fSessionInfoRelativeLogonTime); ok {
		// "Process creation time, relative to logon time, in seconds".
		start, _ := m.time(fProcessStart)
		if start.IsZero() {
			start = ev.Time
		}
		if !start.IsZero() && rel >= 0 {
			if t := int64(math.Floor(float64(start.UnixNano())/1e9 - rel)); t > 0 {
				ev.LogonTime = t
			}
		}
	}
	if ev.LogonID == 0 {
		if b, _ := m.raw(fM365LogonID); len(b) > 0 {
			ev.LogonID, _ = detector.ParseLogonID(string(b))
		}
	}
	if m.slots[fWinlogEventID] != nil && (m.slots[fWinlogEventData] != nil || m.slots[fWinlogUserData] != nil) {
		m.winlogAttribution(ev)
	}
}

// attributionKeys are the winlog.event_data and winlog.user_data names
// winevent's attribution reads.
var attributionKeys = map[string]bool{
	"LogonId": true, "LogonGuid": true, "TerminalSessionId": true, // Sysmon 1
	"TargetLogonId": true, "SubjectLogonId": true, // 4688, 4624, 4634
	"TargetLinkedLogonId": true, "LogonType": true, "IpAddress": true, "WorkstationName": true,
	"TargetUserName": true, "TargetDomainName": true, // 4624
	"LogonID": true, "ClientName": true, "ClientAddress": true, "AccountName": true, "AccountDomain": true, // 4778, 4779
	"SessionID": true, "Address": true, "User": true, // LocalSessionManager
}

// logonTypes maps winlog.logon.type names back to the numbers the Windows
// mapping reads, for documents whose event_data lost LogonType.
var logonTypes = map[string]string{"RemoteInteractive": "10", "CachedRemoteInteractive": "12"}

// winlogAttribution builds a Windows record from what the document keeps of
// the event and lets winevent map it, so ECS and raw logs follow the same
// rules. The Elastic pipelines move some values out of event_data, and put
// them back where the mapping looks: 4624's IpAddress and WorkstationName
// become source.ip and source.domain; 4778/4779's ClientAddress,
// ClientName and LogonID become source.ip, source.domain and
// winlog.logon.id. 4624's winlog.logon.id is the *subject's* logon in the
// ingest pipelines, so it is never taken for 4624.
func (m *Mapper) winlogAttribution(ev *detector.Event) {
	id, err := m.int(fWinlogEventID)
	if err != nil {
		return
	}
	r := winevent.Record{EventID: int(id), Time: ev.Time}
	r.Channel, _ = m.str(fWinlogChannel)
	r.Provider, _ = m.str(fWinlogProvider)
	switch {
	case r.IsSysmon() && id == 1:
	case r.IsSecurity() && (id == 4688 || id == 4624 || id == 4778 || id == 4779 || id == 4634 || id == 4608):
	case r.IsLSM() && 21 <= id && id <= 25:
	default:
		return
	}
	if id == 1 || id == 4688 {
		m.processAttribution(ev, int(id))
		return
	}
	r.Computer, _ = m.str(fWinlogComputer)
	if r.Computer == "" {
		r.Computer = ev.Host
	}
	if m.attr == nil {
		m.attr = make(map[string]string, 8)
	}
	clear(m.attr)
	r.Data = m.attr
	for _, f := range [...]int{fWinlogEventData, fWinlogUserData} {
		if v := m.slots[f]; v != nil && v.Type() == fastjson.TypeObject {
			o, _ := v.Object()
			o.Visit(m.attributionValue)
		}
	}
	fill := func(key string, ids ...int) {
		if r.Data[key] != "" {
			return
		}
		for _, f := range ids {
			if s, _ := m.str(f); s != "" {
				r.Data[key] = s
				return
			}
		}
	}
	switch id {
	case 4624:
		fill("IpAddress", fSourceIP)
		fill("WorkstationName", fSourceDomain)
	case 4778, 4779:
		fill("ClientAddress", fSourceIP)
		fill("ClientName", fSourceDomain)
		fill("LogonID", fWinlogLogonID)
	case 4634:
		fill("TargetLogonId", fWinlogLogonID)
	case 4688:
		fill("SubjectLogonId", fWinlogLogonID)
	}
	if id == 4624 || id == 4634 {
		if t, _ := m.str(fWinlogLogonType); r.Data["LogonType"] == "" && logonTypes[t] != "" {
			r.Data["LogonType"] = logonTypes[t]
		}
	}
	w := detector.Event{Time: ev.Time, User: ev.User}
	r.Attribute(&w)
	if ev.LogonID == 0 {
		ev.LogonID = w.LogonID
	}
	if !ev.SessionID.Known() {
		ev.SessionID = w.SessionID
	}
	if ev.LogonTime == 0 {
		ev.LogonTime = w.LogonTime
	}
	if ev.ClientName == "" && ev.ClientAddress == "" {
		ev.ClientName, ev.ClientAddress = w.ClientName, w.ClientAddress
		if w.SessionChange != detector.SessionNone {
			ev.Attribution = w.Attribution
		}
	}
	ev.SessionChange, ev.LinkedLogonID = w.SessionChange, w.LinkedLogonID
	if ev.SessionChange != detector.SessionNone {
		ev.Attribution = w.Attribution
		ev.User = w.User
	}
}

// processAttribution reads a Sysmon 1's or a 4688's logon (and Sysmon's
// terminal session and logon time) straight from winlog.event_data, by the
// rules of winevent.Record.Attribute, without building a record: process
// starts are most of a log, and this runs for every one.
func (m *Mapper) processAttribution(ev *detector.Event, id int) {
	ed := m.slots[fWinlogEventData]
	if ed == nil || ed.Type() != fastjson.TypeObject {
		return
	}
	get := func(k string) []byte {
		v := ed.Get(k)
		if v == nil {
			return nil
		}
		switch v.Type() {
		case fastjson.TypeString:
			b, _ := v.StringBytes()
			return b
		case fastjson.TypeNumber:
			m.num = v.MarshalTo(m.num[:0])
			return m.num
		}
		return nil
	}
	if id == 4688 {
		if ev.LogonID != 0 {
			return
		}
		// TargetLogonId when set and not 0x0, else the creator's:
		// SubjectLogonId, which the pipelines also copy to winlog.logon.id.
		if t, _ := detector.ParseLogonID(get("TargetLogonId")); t != 0 {
			ev.LogonID = t
		} else if s, ok := detector.ParseLogonID(get("SubjectLogonId")); ok {
			ev.LogonID = s
		} else if b, _ := m.raw(fWinlogLogonID); len(b) > 0 {
			ev.LogonID, _ = detector.ParseLogonID(b)
		}
		return
	}
	if ev.LogonID == 0 {
		ev.LogonID, _ = detector.ParseLogonID(get("LogonId"))
	}
	if !ev.SessionID.Known() {
		ev.SessionID, _ = detector.ParseSessionID(get("TerminalSessionId"))
	}
	if g := get("LogonGuid"); ev.LogonTime == 0 && len(g) > 0 {
		if t, ok := winevent.LogonGUIDTime(string(g), ev.LogonID); ok && (ev.Time.IsZero() || t <= ev.Time.Unix()+1) {
			ev.LogonTime = t
		}
	}
}

// attributionValue copies one wanted event_data or user_data value.
func (m *Mapper) attributionValue(k []byte, v *fastjson.Value) {
	if !attributionKeys[string(k)] {
		return
	}
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		m.attr[string(k)] = string(b)
	case fastjson.TypeNumber:
		m.attr[string(k)] = string(v.MarshalTo(nil))
	}
}

// float reads a number (or a number in a string) field; ok is false when
// it is absent or not a finite number.
func (m *Mapper) float(id int) (float64, bool) {
	v, err := m.scalar(id)
	if v == nil || err != nil {
		return 0, false
	}
	var f float64
	switch v.Type() {
	case fastjson.TypeNumber:
		f, err = v.Float64()
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		f, err = strconv.ParseFloat(string(b), 64)
	default:
		return 0, false
	}
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}
