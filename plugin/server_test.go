package plugin

import (
	"context"
	"errors"
	"strings"
	"testing"

	hclog "github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tsclientwatch/tsclientwatch/detector"
	pb "github.com/tsclientwatch/tsclientwatch/plugin/proto/tsclientwatch/v1"
)

func newTestServer(d detector.Detector) *server {
	return &server{log: hclog.NewNullLogger(), version: "test", det: d,
		rebuild: func(c detector.Config) (detector.Detector, error) { return detector.New(c) }}
}

func TestConfigureRefusesBadConfig(t *testing.T) {
	s := newTestServer(detector.MustNew(detector.DefaultConfig()))
	for _, tc := range []struct {
		name string
		cfg  *pb.Config
		want string
	}{
		{"extension without dot", &pb.Config{Extensions: []string{"exe"}}, "detector.extensions[0]"},
		{"mount name with slash", &pb.Config{Extensions: []string{".exe"}, XrdpMountNames: []string{"a/b"}}, "detector.xrdp_mount_names[0]"},
		{"missing config", nil, "no config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Configure(context.Background(), &pb.ConfigureRequest{Config: tc.cfg})
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Configure error = %v, want InvalidArgument naming %q", err, tc.want)
			}
		})
	}
	resp, err := s.Configure(context.Background(), &pb.ConfigureRequest{Config: &pb.Config{Strict: true}})
	if err != nil || !resp.GetRule().GetStrict() {
		t.Fatalf("strict Configure = %v, %v", resp, err)
	}
	s.rebuild = nil
	if _, err := s.Configure(context.Background(), &pb.ConfigureRequest{Config: &pb.Config{}}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("Configure without rebuild: %v", err)
	}
}

// detectOnly hides Match, so the server takes the generic Detector path.
type detectOnly struct{ m *detector.Matcher }

func (d detectOnly) Info() detector.Rule { return d.m.Info() }
func (d detectOnly) Detect(ctx context.Context, b []detector.Event, out []detector.Detection) ([]detector.Detection, error) {
	return d.m.Detect(ctx, b, out)
}

type panicky struct{ detectOnly }

func (panicky) Detect(context.Context, []detector.Event, []detector.Detection) ([]detector.Detection, error) {
	panic("boom")
}

type failing struct{ detectOnly }

func (failing) Detect(context.Context, []detector.Event, []detector.Detection) ([]detector.Detection, error) {
	return nil, errors.New("backend down")
}

func TestJudge(t *testing.T) {
	m := detector.MustNew(detector.DefaultConfig())
	evs := events()
	req := &pb.DetectRequest{Sequence: 7}
	for i := range evs {
		e := new(pb.Event)
		eventToPB(e, &evs[i])
		req.Events = append(req.Events, e)
	}
	var wantIdx []uint32
	for i := range evs {
		if _, ok := m.Match(&evs[i]); ok {
			wantIdx = append(wantIdx, uint32(i))
		}
	}
	for _, tc := range []struct {
		name    string
		d       detector.Detector
		wantErr string
	}{
		{"matcher", m, ""},
		{"generic detector", detectOnly{m}, ""},
		{"panic", panicky{detectOnly{m}}, "detector panicked: boom"},
		{"error", failing{detectOnly{m}}, "backend down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &pb.DetectResponse{}
			_, _, err := newTestServer(tc.d).judge(context.Background(), req, nil, nil, resp)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("judge error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []uint32
			for _, d := range resp.Detections {
				got = append(got, d.Index)
			}
			if !slicesEqual(got, wantIdx) {
				t.Fatalf("indexes %v, want %v", got, wantIdx)
			}
		})
	}
}

func slicesEqual(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEventFromPBRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    *pb.Event
		want string
	}{
		{"type", &pb.Event{Type: 5}, "unknown event type 5"},
		{"nanos", &pb.Event{TimeSeconds: 1, TimeNanos: 1e9}, "time_nanos"},
		{"negative nanos", &pb.Event{TimeSeconds: 1, TimeNanos: -1}, "time_nanos"},
		{"inferred", &pb.Event{Inferred: 0x100}, "inferred 0x100 out of range"},
		{"session change", &pb.Event{SessionChange: 0x100}, "session_change 256 out of range"},
		{"negative session change", &pb.Event{SessionChange: -1}, "session_change -1 out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := eventFromPB(tc.e); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

// The inferred marks survive the trip, and a strict plugin honours them.
func TestEventInferredRoundTrip(t *testing.T) {
	e := detector.Event{Type: detector.TypeStart, HostOS: detector.OSWindows, Executable: `\Device\Mup\tsclient\C\a.exe`,
		Inferred: detector.InferredHostOS | detector.InferredExecutable}
	var p pb.Event
	eventToPB(&p, &e)
	back, err := eventFromPB(&p)
	if err != nil || back != e {
		t.Fatalf("round trip: %+v, %v; want %+v", back, err, e)
	}
}

// The attribution fields survive the trip in both directions; session 0
// stays known and an unknown session stays unknown, whatever the reused
// message held before.
func TestEventAttributionRoundTrip(t *testing.T) {
	var p pb.Event // reused, as the host reuses its messages
	for _, e := range []detector.Event{
		{Type: detector.TypeStart, Executable: `\\tsclient\c\a.exe`, LogonID: 0x6a423, SessionID: detector.SessionOf(0),
			ClientName: "JUMP01", ClientAddress: "10.23.23.9", LogonTime: 1620000000, Attribution: detector.AttributionEvent},
		{Type: detector.TypeStart, Executable: `C:\x.exe`},
		{SessionChange: detector.SessionLogon, LogonID: 0x1008e, LinkedLogonID: 0x1008f, ClientAddress: "10.1.2.3", Attribution: "4624",
			SessionID: detector.SessionOf(7)},
		{SessionChange: detector.SessionChange(200)}, // a kind from a newer host
	} {
		eventToPB(&p, &e)
		back, err := eventFromPB(&p)
		if err != nil || back != e {
			t.Fatalf("round trip: %+v, %v; want %+v", back, err, e)
		}
	}
	// An old host sends none of the new fields: all unknown.
	back, err := eventFromPB(&pb.Event{Type: pb.EventType_EVENT_TYPE_START, Executable: "x"})
	if err != nil || back.LogonID != 0 || back.SessionID.Known() || back.SessionChange != detector.SessionNone {
		t.Errorf("old host's event: %+v, %v", back, err)
	}
}

// The evidence fields survive the trip; an evidence path that is not
// UTF-8 (evidence.dir is the operator's, but the bytes are kept exact)
// is escaped on the wire and restored; an old host sends neither.
func TestEventEvidenceRoundTrip(t *testing.T) {
	var p pb.Event
	for _, e := range []detector.Event{
		{Type: detector.TypeStart, Executable: "/home/a/thinclient_drives/C:/x", SHA256: strings.Repeat("0f", 32), Size: 123456789012,
			EvidencePath: "/var/lib/tsclientwatch/evidence/" + strings.Repeat("0f", 32)},
		{Type: detector.TypeStart, Executable: "/x", Size: 1, EvidencePath: "/ev/\xff\xfe"},
		{Type: detector.TypeStart, Executable: "/x"},
	} {
		eventToPB(&p, &e)
		if e.EvidencePath == "/ev/\xff\xfe" && p.Escaped&(1<<29) == 0 {
			t.Errorf("evidence_path %q sent without its escaped bit", e.EvidencePath)
		}
		back, err := eventFromPB(&p)
		if err != nil || back != e {
			t.Fatalf("round trip: %+v, %v; want %+v", back, err, e)
		}
	}
	back, err := eventFromPB(&pb.Event{Type: pb.EventType_EVENT_TYPE_START, Executable: "x"})
	if err != nil || back.Size != 0 || back.EvidencePath != "" {
		t.Errorf("old host's event: %+v, %v", back, err)
	}
}

// TestDecodeDetectionsRefusesBadIndexes: the host uses no verdict of an
// answer it cannot trust, and says why.
func TestDecodeDetectionsRefusesBadIndexes(t *testing.T) {
	chunk := events()[:3]
	det := func(i uint32) *pb.Detection { return &pb.Detection{Index: i, Form: pb.Form_FORM_UNC} }
	for _, tc := range []struct {
		name string
		resp *pb.DetectResponse
		want string
	}{
		{"out of range", &pb.DetectResponse{Sequence: 1, Detections: []*pb.Detection{det(3)}}, "protocol error: detection for event 3 of a 3-event batch"},
		{"huge index", &pb.DetectResponse{Sequence: 1, Detections: []*pb.Detection{det(1<<32 - 1)}}, "protocol error: detection for event 4294967295"},
		{"duplicate", &pb.DetectResponse{Sequence: 1, Detections: []*pb.Detection{det(1), det(1)}}, "protocol error: detection for event 1 after one for event 1"},
		{"decreasing", &pb.DetectResponse{Sequence: 1, Detections: []*pb.Detection{det(2), det(0)}}, "indexes must increase"},
		{"more than events", &pb.DetectResponse{Sequence: 1, Detections: []*pb.Detection{det(0), det(1), det(2), det(2)}}, "protocol error: 4 detections for a 3-event batch"},
		{"bad form", &pb.DetectResponse{Sequence: 1, Detections: []*pb.Detection{{Index: 0}}}, "protocol error: detection for event 100: unknown path form 0"},
		{"wrong sequence", &pb.DetectResponse{Sequence: 2, Detections: []*pb.Detection{det(0)}}, "protocol error: answer for batch 2 received as the answer to batch 1"},
		{"error text quoted", &pb.DetectResponse{Sequence: 1, Error: "bad\nFAKE LOG LINE"}, `refused the batch (events 100-102): "bad\nFAKE LOG LINE"`},
		{"error text cut", &pb.DetectResponse{Sequence: 1, Error: strings.Repeat("e", 5000)}, "(3976 more bytes)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := []detector.Detection{{RuleID: "keep"}}
			got, err := decodeResponse(tc.resp, 1, chunk, 100, out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
			if len(got) != 1 {
				t.Fatalf("out grew to %d on error", len(got))
			}
		})
	}
}

// TestRespondLimits: a batch over MaxBatchEvents, and a batch whose answer
// would not fit in one message, are refused with an answer that says so
// and carries the batch's sequence, instead of breaking the stream.
func TestRespondLimits(t *testing.T) {
	s := newTestServer(detector.MustNew(detector.DefaultConfig()))
	many := &pb.DetectRequest{Sequence: 9, Events: make([]*pb.Event, MaxBatchEvents+1)}
	for i := range many.Events {
		many.Events[i] = &pb.Event{}
	}
	// Each event's share path is echoed in its detection: 3 of 6 MiB make
	// an answer over the limit although the request itself was split
	// small enough by a host.
	big := &pb.DetectRequest{Sequence: 10}
	for range 3 {
		big.Events = append(big.Events, &pb.Event{Type: pb.EventType_EVENT_TYPE_START, HostOs: "windows",
			Executable: `\\tsclient\c\` + strings.Repeat("a", 6<<20) + `.exe`})
	}
	for _, tc := range []struct {
		name string
		req  *pb.DetectRequest
		want string
	}{
		{"too many events", many, "65537 events in one message, over the limit of 65536"},
		{"answer too big", big, "over the 16777216-byte message limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b batchBuffers
			resp := s.respond(context.Background(), tc.req, &b)
			if resp.GetSequence() != tc.req.GetSequence() || len(resp.GetDetections()) != 0 || !strings.Contains(resp.GetError(), tc.want) {
				t.Fatalf("answer: sequence %d, %d detections, error %q; want error %q", resp.GetSequence(), len(resp.GetDetections()), resp.GetError(), tc.want)
			}
		})
	}
	// Under the limits the same server answers normally.
	var b batchBuffers
	if resp := s.respond(context.Background(), &pb.DetectRequest{Sequence: 11, Events: big.Events[:1]}, &b); resp.GetError() != "" || len(resp.GetDetections()) != 1 {
		t.Fatalf("one big event: %v", resp)
	}
}
