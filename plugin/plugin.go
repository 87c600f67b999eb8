// Package plugin runs the detector out of process as a hashicorp/go-plugin
// module and lets any Go agent embed it.
//
// The package owns the whole contract between host and plugin: the handshake
// values, the versioned plugin set, the gRPC protocol (proto/tsclientwatch/v1)
// and both adapters. A plugin binary calls Serve; a host calls Launch and gets
// a *Client that implements detector.Detector, exactly like the in-process
// detector.Matcher, so callers cannot tell where the rule runs. go-plugin
// types never appear in this package's API.
package plugin

import (
	"context"
	"errors"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/tsclientwatch/tsclientwatch/plugin/proto/tsclientwatch/v1"
)

// Handshake values. A host and a plugin must agree on all three; hosts
// written in other languages set the cookie in the plugin's environment and
// accept protocol version 1 (see docs/plugin.md). The magic cookie only stops
// people from running the plugin binary by hand; it is not a security
// measure.
const (
	// ProtocolVersion is the version of the gRPC protocol in
	// proto/tsclientwatch/v1.
	ProtocolVersion = 1
	// MagicCookieKey is the environment variable the host sets for the plugin.
	MagicCookieKey = "TSCLIENTWATCH_PLUGIN"
	// MagicCookieValue is the value MagicCookieKey must hold.
	MagicCookieValue = "6b0d2c4f9e3a47a1b8d5f0e2c7a91d34"
	// Name is the plugin's name in the go-plugin plugin set.
	Name = "detector"
)

// MaxMessageSize bounds one gRPC message in either direction. The host splits
// larger batches before sending, so only a single event bigger than this (or
// a misbehaving peer) reaches the limit.
const MaxMessageSize = 16 << 20

// MaxBatchEvents bounds the events in one DetectRequest. Without it a 16 MiB
// message of empty events would decode into millions of them; the host
// never sends more (Options.MaxBatch is clamped to it) and the plugin
// refuses a batch that does.
const MaxBatchEvents = 1 << 16

var handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   MagicCookieKey,
	MagicCookieValue: MagicCookieValue,
}

// versionedPlugins is the plugin set for each protocol version. srv is nil on
// the host side.
func versionedPlugins(srv pb.DetectorServer) map[int]goplugin.PluginSet {
	return map[int]goplugin.PluginSet{
		ProtocolVersion: {Name: &grpcPlugin{srv: srv}},
	}
}

// grpcPlugin is both adapters: on the plugin side it registers the detector
// server, on the host side it hands back the raw gRPC client, which Client
// wraps with supervision.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	srv pb.DetectorServer
}

func (p *grpcPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	if p.srv == nil {
		return errors.New("plugin: no detector to serve")
	}
	pb.RegisterDetectorServer(s, p.srv)
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return pb.NewDetectorClient(c), nil
}
