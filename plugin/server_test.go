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
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := eventFromPB(tc.e); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDecodeDetectionsRefusesBadIndexes(t *testing.T) {
	chunk := events()[:3]
	for _, tc := range []struct {
		name string
		dets []*pb.Detection
	}{
		{"out of range", []*pb.Detection{{Index: 3, Form: pb.Form_FORM_UNC}}},
		{"not increasing", []*pb.Detection{{Index: 1, Form: pb.Form_FORM_UNC}, {Index: 1, Form: pb.Form_FORM_UNC}}},
		{"bad form", []*pb.Detection{{Index: 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := []detector.Detection{{RuleID: "keep"}}
			got, err := decodeResponse(&pb.DetectResponse{Sequence: 1, Detections: tc.dets}, 1, chunk, 0, out)
			if err == nil || !strings.Contains(err.Error(), "protocol error") {
				t.Fatalf("error = %v", err)
			}
			if len(got) != 1 {
				t.Fatalf("out grew to %d on error", len(got))
			}
		})
	}
}
