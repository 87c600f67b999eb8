package plugin

import (
	"fmt"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	pb "github.com/tsclientwatch/tsclientwatch/plugin/proto/tsclientwatch/v1"
)

func ruleToPB(r detector.Rule) *pb.Rule {
	return &pb.Rule{
		Id:           r.ID,
		Name:         r.Name,
		Severity:     r.Severity,
		RiskScore:    int32(r.RiskScore),
		Tactic:       &pb.Technique{Id: r.Tactic.ID, Name: r.Tactic.Name},
		Technique:    &pb.Technique{Id: r.Technique.ID, Name: r.Technique.Name},
		Subtechnique: &pb.Technique{Id: r.Subtechnique.ID, Name: r.Subtechnique.Name},
		Query:        r.Query,
		Strict:       r.Strict,
	}
}

func ruleFromPB(r *pb.Rule) detector.Rule {
	tech := func(t *pb.Technique) detector.Technique {
		return detector.Technique{ID: t.GetId(), Name: t.GetName()}
	}
	return detector.Rule{
		ID:           r.GetId(),
		Name:         r.GetName(),
		Severity:     r.GetSeverity(),
		RiskScore:    int(r.GetRiskScore()),
		Tactic:       tech(r.GetTactic()),
		Technique:    tech(r.GetTechnique()),
		Subtechnique: tech(r.GetSubtechnique()),
		Query:        r.GetQuery(),
		Strict:       r.GetStrict(),
	}
}

func configToPB(c detector.Config) *pb.Config {
	return &pb.Config{Strict: c.Strict, Extensions: c.Extensions, XrdpMountNames: c.XrdpMountNames}
}

func configFromPB(c *pb.Config) detector.Config {
	return detector.Config{Strict: c.GetStrict(), Extensions: c.GetExtensions(), XrdpMountNames: c.GetXrdpMountNames()}
}

// eventToPB fills dst from e. dst is reused across batches to spare the
// allocations, so every field is written.
func eventToPB(dst *pb.Event, e *detector.Event) {
	_, off := e.Time.Zone()
	dst.TimeSeconds = e.Time.Unix()
	dst.TimeNanos = int32(e.Time.Nanosecond())
	dst.TimeUtcOffset = int32(off)
	dst.Type = pb.EventType(e.Type)
	dst.Pid = e.PID
	dst.ParentPid = e.ParentPID
	dst.Executable = e.Executable
	dst.CommandLine = e.CommandLine
	dst.WorkingDirectory = e.WorkingDirectory
	dst.ParentExecutable = e.ParentExecutable
	dst.User = e.User
	dst.Host = e.Host
	dst.HostOs = e.HostOS
	dst.Source = e.Source
	dst.Sha256 = e.SHA256
	dst.FsType = e.FSType
	dst.PathTruncated = e.PathTruncated
	dst.Inferred = uint32(e.Inferred)
	dst.LogonId = uint64(e.LogonID)
	if id, ok := e.SessionID.Get(); ok {
		if dst.SessionId == nil {
			dst.SessionId = new(uint32)
		}
		*dst.SessionId = id
	} else {
		dst.SessionId = nil
	}
	dst.ClientName = e.ClientName
	dst.ClientAddress = e.ClientAddress
	dst.LogonTime = e.LogonTime
	dst.Attribution = e.Attribution
	dst.SessionChange = pb.SessionChange(e.SessionChange)
	dst.LinkedLogonId = uint64(e.LinkedLogonID)
	dst.Size = e.Size
	dst.EvidencePath = e.EvidencePath
	// Field numbers as in detector.proto.
	dst.Escaped = 0
	wireField(&dst.Executable, 7, &dst.Escaped)
	wireField(&dst.CommandLine, 8, &dst.Escaped)
	wireField(&dst.WorkingDirectory, 9, &dst.Escaped)
	wireField(&dst.ParentExecutable, 10, &dst.Escaped)
	wireField(&dst.User, 11, &dst.Escaped)
	wireField(&dst.Host, 12, &dst.Escaped)
	wireField(&dst.HostOs, 13, &dst.Escaped)
	wireField(&dst.Source, 14, &dst.Escaped)
	wireField(&dst.Sha256, 15, &dst.Escaped)
	wireField(&dst.FsType, 16, &dst.Escaped)
	wireField(&dst.ClientName, 22, &dst.Escaped)
	wireField(&dst.ClientAddress, 23, &dst.Escaped)
	wireField(&dst.Attribution, 25, &dst.Escaped)
	wireField(&dst.EvidencePath, 29, &dst.Escaped)
}

// zeroUnix is time.Time{}.Unix(): the encoding of an unknown time.
var zeroUnix = time.Time{}.Unix()

// eventFromPB decodes one event of a batch, refusing values detector.Event
// cannot hold.
func eventFromPB(e *pb.Event) (detector.Event, error) {
	var t time.Time
	if e.TimeSeconds != zeroUnix || e.TimeNanos != 0 {
		if e.TimeNanos < 0 || e.TimeNanos >= 1e9 {
			return detector.Event{}, fmt.Errorf("time_nanos %d out of range [0, 1e9)", e.TimeNanos)
		}
		t = time.Unix(e.TimeSeconds, int64(e.TimeNanos)).UTC()
		if e.TimeUtcOffset != 0 {
			t = t.In(time.FixedZone("", int(e.TimeUtcOffset)))
		}
	}
	switch e.Type {
	case pb.EventType_EVENT_TYPE_OTHER, pb.EventType_EVENT_TYPE_START, pb.EventType_EVENT_TYPE_START_LEGACY:
	default:
		return detector.Event{}, fmt.Errorf("unknown event type %d", int32(e.Type))
	}
	// Unknown bits are kept: a newer host may mark more fields, and any
	// mark keeps strict mode from matching, which is the safe reading.
	if e.Inferred > 0xff {
		return detector.Event{}, fmt.Errorf("inferred %#x out of range (8 bits)", e.Inferred)
	}
	// A session change this build does not know is kept: the rule reads
	// none, and a newer host may send more kinds.
	if e.SessionChange < 0 || e.SessionChange > 0xff {
		return detector.Event{}, fmt.Errorf("session_change %d out of range (8 bits)", int32(e.SessionChange))
	}
	var session detector.SessionID
	if e.SessionId != nil {
		session = detector.SessionOf(*e.SessionId)
	}
	str := func(v string, n int) string { return fromWire(v, e.Escaped&(1<<n) != 0) }
	return detector.Event{
		Time:             t,
		Type:             detector.EventType(e.Type),
		PID:              e.Pid,
		ParentPID:        e.ParentPid,
		Executable:       str(e.Executable, 7),
		CommandLine:      str(e.CommandLine, 8),
		WorkingDirectory: str(e.WorkingDirectory, 9),
		ParentExecutable: str(e.ParentExecutable, 10),
		User:             str(e.User, 11),
		Host:             str(e.Host, 12),
		HostOS:           str(e.HostOs, 13),
		Source:           str(e.Source, 14),
		SHA256:           str(e.Sha256, 15),
		FSType:           str(e.FsType, 16),
		PathTruncated:    e.PathTruncated,
		Inferred:         detector.Inferred(e.Inferred),
		LogonID:          detector.LogonID(e.LogonId),
		SessionID:        session,
		ClientName:       str(e.ClientName, 22),
		ClientAddress:    str(e.ClientAddress, 23),
		LogonTime:        e.LogonTime,
		Attribution:      str(e.Attribution, 25),
		SessionChange:    detector.SessionChange(e.SessionChange),
		LinkedLogonID:    detector.LogonID(e.LinkedLogonId),
		Size:             e.Size,
		EvidencePath:     str(e.EvidencePath, 29),
	}, nil
}

func formToPB(f detector.Form) (pb.Form, error) {
	switch f {
	case detector.FormKernel:
		return pb.Form_FORM_KERNEL, nil
	case detector.FormUNC:
		return pb.Form_FORM_UNC, nil
	case detector.FormXrdp:
		return pb.Form_FORM_XRDP, nil
	}
	return 0, fmt.Errorf("detection has unknown path form %q", f)
}

func formFromPB(f pb.Form) (detector.Form, error) {
	switch f {
	case pb.Form_FORM_KERNEL:
		return detector.FormKernel, nil
	case pb.Form_FORM_UNC:
		return detector.FormUNC, nil
	case pb.Form_FORM_XRDP:
		return detector.FormXrdp, nil
	}
	return "", fmt.Errorf("unknown path form %d", int32(f))
}

// detectionToPB builds the wire form of d, the detection of event index.
func detectionToPB(index int, d *detector.Detection) (*pb.Detection, error) {
	form, err := formToPB(d.Form)
	if err != nil {
		return nil, fmt.Errorf("event %d: %w", index, err)
	}
	p := &pb.Detection{Index: uint32(index), Form: form, ClientDrive: d.ClientDrive, SharePath: d.SharePath, RuleId: d.RuleID}
	wireField(&p.ClientDrive, 3, &p.Escaped)
	wireField(&p.SharePath, 4, &p.Escaped)
	wireField(&p.RuleId, 5, &p.Escaped)
	return p, nil
}

// detectionStrings decodes the string fields of a wire detection.
func detectionStrings(d *pb.Detection) (clientDrive, sharePath, ruleID string) {
	esc := d.GetEscaped()
	return fromWire(d.GetClientDrive(), esc&(1<<3) != 0), fromWire(d.GetSharePath(), esc&(1<<4) != 0), fromWire(d.GetRuleId(), esc&(1<<5) != 0)
}
