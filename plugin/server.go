package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"

	hclog "github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tsclientwatch/tsclientwatch/detector"
	pb "github.com/tsclientwatch/tsclientwatch/plugin/proto/tsclientwatch/v1"
)

// Description is what the plugin reports it detects.
const Description = "Process executions from an RDP client's redirected drive: \\Device\\Mup\\tsclient\\..., \\\\tsclient\\... and xrdp's thinclient_drives FUSE mount."

// matcher is the fast path: a detector that judges one event at a time, so
// the server knows each detection's index without searching for it.
type matcher interface {
	Match(e *detector.Event) (detector.Detection, bool)
}

// server is the plugin-side adapter: it serves a detector.Detector over the
// gRPC protocol.
type server struct {
	pb.UnimplementedDetectorServer

	log     hclog.Logger
	version string
	rebuild func(detector.Config) (detector.Detector, error)

	mu  sync.RWMutex
	det detector.Detector
}

func (s *server) current() detector.Detector {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.det
}

func (s *server) Info(context.Context, *pb.InfoRequest) (*pb.InfoResponse, error) {
	return &pb.InfoResponse{
		Rule:          ruleToPB(s.current().Info()),
		PluginVersion: s.version,
		Description:   Description,
	}, nil
}

func (s *server) Configure(_ context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	if req.GetConfig() == nil {
		return nil, status.Error(codes.InvalidArgument, "configure: no config in request")
	}
	cfg := configFromPB(req.GetConfig())
	// Validate names the offending key ("detector.extensions[0]: ..."), which
	// is what the host shows its user.
	if err := cfg.Validate(); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if s.rebuild == nil {
		return nil, status.Error(codes.FailedPrecondition, "this plugin's detector cannot be reconfigured")
	}
	d, err := s.rebuild(cfg)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	s.mu.Lock()
	s.det = d
	s.mu.Unlock()
	s.log.Info("detector configured", "strict", cfg.Strict, "extensions", cfg.Extensions, "xrdp_mount_names", cfg.XrdpMountNames)
	return &pb.ConfigureResponse{Rule: ruleToPB(d.Info())}, nil
}

// Detect answers every batch on the stream in order. A batch that cannot be
// judged gets a response carrying an error, so the host always hears back
// about every sequence number and the stream survives a bad batch.
func (s *server) Detect(stream pb.Detector_DetectServer) error {
	ctx := stream.Context()
	var b batchBuffers
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(s.respond(ctx, req, &b)); err != nil {
			return err
		}
	}
}

// batchBuffers are reused from one batch to the next.
type batchBuffers struct {
	events []detector.Event
	dets   []detector.Detection
}

// respond judges one batch and builds its answer: the detections, or an
// error the host can show. It never fails the stream, and the answer always
// fits in one message.
func (s *server) respond(ctx context.Context, req *pb.DetectRequest, b *batchBuffers) *pb.DetectResponse {
	resp := &pb.DetectResponse{Sequence: req.GetSequence()}
	var err error
	if n := len(req.GetEvents()); n > MaxBatchEvents {
		err = fmt.Errorf("%d events in one message, over the limit of %d", n, MaxBatchEvents)
	} else {
		b.events, b.dets, err = s.judge(ctx, req, b.events[:0], b.dets[:0], resp)
	}
	if err == nil {
		// Detections echo path fragments of their events, so a batch of
		// a few enormous paths could make an answer the host's limit
		// refuses, which would break the stream and look like a crash.
		// Refuse the batch instead.
		if n := detectionsSize(resp.Detections); n > MaxMessageSize-responseSlack {
			err = fmt.Errorf("answer would be about %d bytes, over the %d-byte message limit", n, MaxMessageSize)
		}
	}
	if err != nil {
		resp.Detections = nil
		// The message may quote an event; it must be UTF-8 to be sent at
		// all (a Go peer cannot marshal it otherwise, and the stream would
		// break), and it is for people, so U+FFFD will do.
		resp.Error = strings.ToValidUTF8(fmt.Sprintf("batch %d: %v", req.GetSequence(), err), "\uFFFD")
		s.log.Warn("batch not judged", "sequence", req.GetSequence(), "error", err)
	}
	return resp
}

// responseSlack leaves room for the response's own fields and the error text.
const responseSlack = 64 << 10

// detectionsSize over-estimates the encoded size of dets without walking
// the messages the way proto.Size does.
func detectionsSize(dets []*pb.Detection) int {
	n := 0
	for _, d := range dets {
		n += 32 + len(d.ClientDrive) + len(d.SharePath) + len(d.RuleId)
	}
	return n
}

// judge decodes req into events, runs the detector and fills resp. It
// returns the buffers for reuse by the next batch.
func (s *server) judge(ctx context.Context, req *pb.DetectRequest, events []detector.Event, dets []detector.Detection, resp *pb.DetectResponse) (_ []detector.Event, _ []detector.Detection, err error) {
	defer func() {
		// A detector bug must cost one batch, not the plugin process and
		// with it every batch in flight.
		if r := recover(); r != nil {
			s.log.Error("detector panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("detector panicked: %v", r)
		}
	}()
	for i, e := range req.GetEvents() {
		ev, err := eventFromPB(e)
		if err != nil {
			return events, dets, fmt.Errorf("event %d: %w", i, err)
		}
		events = append(events, ev)
	}
	d := s.current()
	if m, ok := d.(matcher); ok {
		for i := range events {
			if det, ok := m.Match(&events[i]); ok {
				if err := appendDetection(resp, i, &det); err != nil {
					return events, dets, err
				}
			}
		}
		return events, dets, nil
	}
	dets, err = d.Detect(ctx, events, dets)
	if err != nil {
		return events, dets, err
	}
	// Detections come in batch order and carry a copy of their event, so
	// one walk over the batch finds each detection's index.
	i := 0
	for k := range dets {
		for i < len(events) && events[i] != dets[k].Event {
			i++
		}
		if i == len(events) {
			return events, dets, fmt.Errorf("detection %d does not match any event of the batch in order", k)
		}
		if err := appendDetection(resp, i, &dets[k]); err != nil {
			return events, dets, err
		}
		i++
	}
	return events, dets, nil
}

func appendDetection(resp *pb.DetectResponse, index int, d *detector.Detection) error {
	p, err := detectionToPB(index, d)
	if err != nil {
		return err
	}
	resp.Detections = append(resp.Detections, p)
	return nil
}
