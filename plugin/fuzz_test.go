package plugin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	pb "github.com/tsclientwatch/tsclientwatch/plugin/proto/tsclientwatch/v1"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/file"
)

// The fuzz targets cover the two places where one side decodes what the
// other sent: the plugin judging a DetectRequest, and the host turning a
// DetectResponse into verdicts on its own events. Their seed corpora in
// testdata/fuzz are real marshalled messages (see TestWriteFuzzSeeds); the
// crafted seeds below add the edge cases a correct peer never sends.

// FuzzServerBatch feeds arbitrary bytes to the plugin side as a
// DetectRequest. Whatever arrives, the server must answer without panicking,
// with the request's sequence number, and either an error or detections
// whose indexes are in range, strictly increasing, and exactly the events
// the in-process matcher flags, with the same verdicts. The answer must then
// decode on the host side onto the same events.
func FuzzServerBatch(f *testing.F) {
	for _, msg := range seedRequests(f) {
		b, err := proto.Marshal(msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	m := detector.MustNew(detector.DefaultConfig())
	fast := newTestServer(m)
	generic := newTestServer(detectOnly{m})
	f.Fuzz(func(t *testing.T, data []byte) {
		req := new(pb.DetectRequest)
		if err := proto.Unmarshal(data, req); err != nil {
			return // gRPC refuses such a message before the server sees it
		}
		var b batchBuffers
		resp := fast.respond(context.Background(), req, &b)
		if resp.GetSequence() != req.GetSequence() {
			t.Fatalf("answer carries sequence %d, request %d", resp.GetSequence(), req.GetSequence())
		}
		events, convErr := decodeEvents(req)
		if resp.GetError() != "" {
			if len(resp.GetDetections()) != 0 {
				t.Fatalf("error answer also carries %d detections", len(resp.GetDetections()))
			}
			if convErr == nil && len(req.GetEvents()) <= MaxBatchEvents {
				// Every event decodes, so only an oversized answer may
				// be refused; check that is what happened.
				var want []*pb.Detection
				for i := range events {
					if d, ok := m.Match(&events[i]); ok {
						want = append(want, &pb.Detection{ClientDrive: d.ClientDrive, SharePath: d.SharePath, RuleId: d.RuleID})
					}
				}
				if detectionsSize(want) <= MaxMessageSize-responseSlack {
					t.Fatalf("valid batch refused: %s", resp.GetError())
				}
			}
			return
		}
		if convErr != nil {
			t.Fatalf("batch with an undecodable event judged: %v", convErr)
		}
		dets := resp.GetDetections()
		var wantIdx []uint32
		for i := range events {
			if _, ok := m.Match(&events[i]); ok {
				wantIdx = append(wantIdx, uint32(i))
			}
		}
		if len(dets) != len(wantIdx) {
			t.Fatalf("%d detections for %d matching events", len(dets), len(wantIdx))
		}
		for k, d := range dets {
			if d.GetIndex() != wantIdx[k] {
				t.Fatalf("detection %d has index %d, want %d", k, d.GetIndex(), wantIdx[k])
			}
			want, _ := m.Match(&events[d.GetIndex()])
			form, err := formFromPB(d.GetForm())
			if err != nil || form != want.Form || d.GetSharePath() != want.SharePath || d.GetClientDrive() != want.ClientDrive || d.GetRuleId() != want.RuleID {
				t.Fatalf("detection %d differs from the in-process verdict %+v: %v", k, want, d)
			}
		}
		// The generic Detector path maps detections back to indexes by
		// walking the batch; it must agree with the per-event path.
		var gb batchBuffers
		gresp := generic.respond(context.Background(), req, &gb)
		if gresp.GetError() != "" || len(gresp.GetDetections()) != len(dets) {
			t.Fatalf("generic path: error %q, %d detections; fast path %d", gresp.GetError(), len(gresp.GetDetections()), len(dets))
		}
		for k := range dets {
			if gresp.Detections[k].GetIndex() != dets[k].GetIndex() {
				t.Fatalf("generic path put detection %d on event %d, fast path on %d", k, gresp.Detections[k].GetIndex(), dets[k].GetIndex())
			}
		}
		// The host accepts the answer and attaches each verdict to the
		// event it was given for.
		out, err := decodeResponse(resp, req.GetSequence(), events, 0, nil)
		if err != nil {
			t.Fatalf("host refuses a correct answer: %v", err)
		}
		for k := range out {
			if out[k].Event != events[dets[k].GetIndex()] {
				t.Fatalf("host put detection %d on the wrong event", k)
			}
		}
	})
}

// decodeEvents converts every event of req, or reports the first that
// cannot be converted.
func decodeEvents(req *pb.DetectRequest) ([]detector.Event, error) {
	events := make([]detector.Event, 0, len(req.GetEvents()))
	for i, e := range req.GetEvents() {
		ev, err := eventFromPB(e)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		events = append(events, ev)
	}
	return events, nil
}

// FuzzHostResponse feeds arbitrary bytes to the host side as the answer to
// batch seq of n events. The host must refuse (with a "protocol error" or
// "refused" message, appending nothing) anything but a well-formed answer
// to that batch, and must attach every accepted verdict to exactly the
// event its index names.
func FuzzHostResponse(f *testing.F) {
	for _, r := range seedResponses(f) {
		b, err := proto.Marshal(r.resp)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, r.resp.GetSequence(), uint16(r.n))
	}
	evs := events()
	f.Fuzz(func(t *testing.T, data []byte, seq uint64, n uint16) {
		resp := new(pb.DetectResponse)
		if err := proto.Unmarshal(data, resp); err != nil {
			return
		}
		// A chunk of n distinct events (distinct pids), so a verdict on
		// the wrong event cannot go unnoticed.
		chunk := make([]detector.Event, int(n)%512)
		for i := range chunk {
			chunk[i] = evs[i%len(evs)]
			chunk[i].PID = int64(i)
		}
		prior := []detector.Detection{{RuleID: "earlier batch"}}
		out, err := decodeResponse(resp, seq, chunk, 100, prior)
		if err != nil {
			msg := err.Error()
			if !strings.Contains(msg, "protocol error") && !strings.Contains(msg, "refused the batch") {
				t.Fatalf("unclear error: %v", err)
			}
			if len(out) != 1 || out[0].RuleID != "earlier batch" {
				t.Fatalf("error left %d detections in out", len(out))
			}
			return
		}
		if resp.GetSequence() != seq {
			t.Fatalf("answer to batch %d accepted for batch %d", resp.GetSequence(), seq)
		}
		if resp.GetError() != "" {
			t.Fatal("answer with an error accepted")
		}
		dets := resp.GetDetections()
		if len(out) != 1+len(dets) {
			t.Fatalf("%d detections out of %d sent", len(out)-1, len(dets))
		}
		for k, d := range dets {
			i := int(d.GetIndex())
			if i >= len(chunk) || k > 0 && d.GetIndex() <= dets[k-1].GetIndex() {
				t.Fatalf("index %d accepted (batch of %d, previous %v)", i, len(chunk), dets[max(k-1, 0)].GetIndex())
			}
			got := out[1+k]
			if got.Event != chunk[i] || got.SharePath != d.GetSharePath() || got.ClientDrive != d.GetClientDrive() || got.RuleID != d.GetRuleId() {
				t.Fatalf("detection %d landed on event pid %d, sent for index %d", k, got.Event.PID, i)
			}
		}
	})
}

// seedRequests returns real batches: the crafted events of events(), and
// the events of the project's samples, two real logs of testdata/thirdparty
// and, when present, the ECS documents of ../shared/data.
func seedRequests(tb testing.TB) []*pb.DetectRequest {
	var reqs []*pb.DetectRequest
	add := func(evs []detector.Event) {
		req := &pb.DetectRequest{Sequence: uint64(len(reqs) + 1)}
		for i := range evs {
			e := new(pb.Event)
			eventToPB(e, &evs[i])
			req.Events = append(req.Events, e)
		}
		reqs = append(reqs, req)
	}
	add(events())
	add(nil)
	var batch []detector.Event
	// The project's samples and a few real logs: not the large third-party
	// corpora, which would make thousands of seeds.
	paths := []string{testdir.Testdata(tb, "evtx"), testdir.Testdata(tb, "xml"), testdir.Testdata(tb, "json"), testdir.Testdata(tb, "ecs"),
		testdir.ThirdParty(tb, "evtx-to-mitre-attack", "ID4688-4778_RDP_hijack_command_execution.evtx"),
		testdir.ThirdParty(tb, "sigma", "sigma_regression_chcp_sysmon1.evtx")}
	if ecs, ok := testdir.SharedOptional(tb, testdir.ECS); ok {
		paths = append(paths, ecs)
	}
	err := file.ReadPaths(context.Background(), paths, file.Options{
		Sink: source.Sink{Event: func(e *detector.Event) error {
			batch = append(batch, *e)
			if len(batch) == 16 {
				add(batch)
				batch = batch[:0]
			}
			return nil
		}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	if len(batch) > 0 {
		add(batch)
	}
	return reqs
}

type seedResponse struct {
	resp *pb.DetectResponse
	n    int // events in the batch it answers
}

// seedResponses are the server's real answers to seedRequests, plus the
// answers a broken or hostile plugin might give.
func seedResponses(tb testing.TB) []seedResponse {
	s := newTestServer(detector.MustNew(detector.DefaultConfig()))
	var out []seedResponse
	for _, req := range seedRequests(tb) {
		var b batchBuffers
		out = append(out, seedResponse{s.respond(context.Background(), req, &b), len(req.GetEvents())})
	}
	det := func(i uint32) *pb.Detection {
		return &pb.Detection{Index: i, Form: pb.Form_FORM_UNC, ClientDrive: "c", SharePath: `\\tsclient\c`, RuleId: "x"}
	}
	for _, r := range []*pb.DetectResponse{
		{Sequence: 1, Detections: []*pb.Detection{det(3)}},                         // out of range for 3
		{Sequence: 1, Detections: []*pb.Detection{det(1), det(1)}},                 // duplicate
		{Sequence: 1, Detections: []*pb.Detection{det(2), det(0)}},                 // decreasing
		{Sequence: 2, Detections: []*pb.Detection{det(0)}},                         // wrong sequence
		{Sequence: 1, Detections: []*pb.Detection{det(0), det(1), det(2), det(3)}}, // more than events
		{Sequence: 1, Detections: []*pb.Detection{{Index: 0, Form: 99}}},           // unknown form
		{Sequence: 1, Detections: []*pb.Detection{det(1 << 31)}},                   // huge index
		{Sequence: 1, Error: "boom\n{\"@level\":\"error\"}"},                       // error text with a newline
	} {
		out = append(out, seedResponse{r, 3})
	}
	return out
}

// TestWriteFuzzSeeds regenerates testdata/fuzz from real messages when
// TSW_WRITE_FUZZ_SEEDS is set; otherwise it checks the committed corpus
// still holds a file per seed, so the corpus cannot silently go missing.
func TestWriteFuzzSeeds(t *testing.T) {
	write := os.Getenv("TSW_WRITE_FUZZ_SEEDS") != ""
	put := func(target, name string, args ...string) {
		t.Helper()
		dir := filepath.Join("testdata", "fuzz", target)
		path := filepath.Join(dir, name)
		text := "go test fuzz v1\n" + strings.Join(args, "\n") + "\n"
		if !write {
			if _, err := os.Stat(path); err != nil {
				t.Errorf("seed %s missing (regenerate with TSW_WRITE_FUZZ_SEEDS=1 go test -run TestWriteFuzzSeeds ./plugin/): %v", path, err)
			}
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, req := range seedRequests(t) {
		b, _ := proto.Marshal(req)
		put("FuzzServerBatch", fmt.Sprintf("real-request-%02d", i), fmt.Sprintf("[]byte(%q)", b))
	}
	for i, r := range seedResponses(t) {
		b, _ := proto.Marshal(r.resp)
		put("FuzzHostResponse", fmt.Sprintf("response-%02d", i),
			fmt.Sprintf("[]byte(%q)", b), fmt.Sprintf("uint64(%d)", r.resp.GetSequence()), fmt.Sprintf("uint16(%d)", r.n))
	}
}
