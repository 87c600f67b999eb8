package plugin

import (
	"context"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/tsclientwatch/tsclientwatch/detector"
	pb "github.com/tsclientwatch/tsclientwatch/plugin/proto/tsclientwatch/v1"
)

// serveInMemory serves srv with the given server options over an in-memory
// connection and dials it with the given dial options. The gRPC limits are
// what these tests exercise; go-plugin's handshake and TLS are not.
func serveInMemory(t *testing.T, srv pb.DetectorServer, sopts []grpc.ServerOption, dopts []grpc.DialOption) pb.DetectorClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	s := grpc.NewServer(sopts...)
	pb.RegisterDetectorServer(s, srv)
	go s.Serve(lis)
	dopts = append(dopts,
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	conn, err := grpc.NewClient("passthrough:///bufnet", dopts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		s.Stop()
	})
	return pb.NewDetectorClient(conn)
}

// hugeRequest is one batch bigger than MaxMessageSize.
func hugeRequest() *pb.DetectRequest {
	return &pb.DetectRequest{Sequence: 1, Events: []*pb.Event{{Type: pb.EventType_EVENT_TYPE_START, CommandLine: strings.Repeat("x", MaxMessageSize+1)}}}
}

// TestPluginRefusesOversizedRequest: a host that ignores the limit (its own
// send limit raised) gets ResourceExhausted from the plugin's server, not a
// hang, and the plugin stays up for the next stream.
func TestPluginRefusesOversizedRequest(t *testing.T) {
	srv := newTestServer(detector.MustNew(detector.DefaultConfig()))
	cl := serveInMemory(t, srv, serverLimits(), []grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(4 * MaxMessageSize))})
	ctx := t.Context()
	stream, err := cl.Detect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = stream.Send(hugeRequest()) // may succeed: the refusal comes back on Recv
	_, err = stream.Recv()
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "larger than max") {
		t.Fatalf("Recv after an oversized request: %v, want ResourceExhausted", err)
	}
	stream, err = cl.Detect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.DetectRequest{Sequence: 2}); err != nil {
		t.Fatal(err)
	}
	if r, err := stream.Recv(); err != nil || r.GetSequence() != 2 {
		t.Fatalf("next stream: %v, %v", r, err)
	}
}

// TestHostRefusesOversized: the host's own limits refuse to send an
// oversized request and to receive an oversized answer, each with
// ResourceExhausted rather than a hang.
func TestHostRefusesOversized(t *testing.T) {
	// Send side.
	cl := serveInMemory(t, newTestServer(detector.MustNew(detector.DefaultConfig())), nil, clientLimits())
	stream, err := cl.Detect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	err = stream.Send(hugeRequest())
	if status.Code(err) != codes.ResourceExhausted {
		// Some gRPC versions report the refusal on the next Recv.
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "larger than max") {
		t.Fatalf("sending an oversized request: %v, want ResourceExhausted", err)
	}

	// Receive side: a plugin that ignores the limit answers too much.
	cl = serveInMemory(t, bigAnswer{}, []grpc.ServerOption{grpc.MaxSendMsgSize(4 * MaxMessageSize)}, clientLimits())
	stream, err = cl.Detect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.DetectRequest{Sequence: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "larger than max") {
		t.Fatalf("receiving an oversized answer: %v, want ResourceExhausted", err)
	}
}

// bigAnswer answers every batch with a detection larger than MaxMessageSize.
type bigAnswer struct{ pb.UnimplementedDetectorServer }

func (bigAnswer) Detect(stream pb.Detector_DetectServer) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		err = stream.Send(&pb.DetectResponse{Sequence: req.GetSequence(), Detections: []*pb.Detection{{SharePath: strings.Repeat("x", MaxMessageSize+1)}}})
		if err != nil {
			return err
		}
	}
}
