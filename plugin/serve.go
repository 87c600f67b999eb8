package plugin

import (
	"os"
	"runtime/debug"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// ServeOption adjusts Serve.
type ServeOption func(*serveConfig)

type serveConfig struct {
	version string
	rebuild func(detector.Config) (detector.Detector, error)
	level   hclog.Level
}

// WithVersion sets the version the plugin reports in Info. The default is the
// main module's version from the build info ("(devel)" for local builds).
func WithVersion(v string) ServeOption {
	return func(c *serveConfig) { c.version = v }
}

// WithReconfigure lets the host replace the detector: Configure validates the
// pushed detector.Config, calls build and serves the detector it returns
// from then on. Without it Configure fails with FailedPrecondition.
func WithReconfigure(build func(detector.Config) (detector.Detector, error)) ServeOption {
	return func(c *serveConfig) { c.rebuild = build }
}

// WithLogLevel sets the plugin's log level (default Info). The host decides
// what it keeps of what arrives.
func WithLogLevel(l string) ServeOption {
	return func(c *serveConfig) { c.level = hclog.LevelFromString(l) }
}

// Serve serves d to the host that launched this process and returns only
// when the host asks the plugin to stop. It must be called from main before
// anything is written to standard output: go-plugin reads its handshake from
// the first line there. Logs go to standard error as hclog JSON, which the
// host forwards to its own logger.
//
// The plugin also exits when its host is gone, even if the host was killed
// without a chance to stop it: a watchdog polls the parent process (and on
// Linux the host additionally sets a parent-death signal).
//
// Run by hand (without the handshake cookie in its environment), Serve
// prints an explanation to standard error and exits with status 1.
func Serve(d detector.Detector, opts ...ServeOption) {
	cfg := serveConfig{level: hclog.Info}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.version == "" {
		cfg.version = buildVersion()
	}
	if cfg.level == hclog.NoLevel {
		cfg.level = hclog.Info
	}
	log := hclog.New(&hclog.LoggerOptions{
		Name:       "tsclientwatch-plugin",
		Level:      cfg.level,
		Output:     os.Stderr,
		JSONFormat: true,
	})
	if os.Getenv(MagicCookieKey) == MagicCookieValue {
		// Only watch the parent when a host launched us; go-plugin itself
		// explains the situation to a user who ran the binary by hand.
		watchParent(log, time.Second)
	}
	srv := &server{log: log, version: cfg.version, rebuild: cfg.rebuild, det: d}
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  handshake,
		VersionedPlugins: versionedPlugins(srv),
		GRPCServer: func(o []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(o, serverLimits()...)...)
		},
		Logger: log,
	})
}

// serverLimits caps messages on the plugin side: a larger request is
// refused by gRPC with ResourceExhausted before it is decoded.
func serverLimits() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize)}
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(unknown)"
}

// hostGone ends the plugin when its host has disappeared. It is a variable so
// a test could observe it; nothing else changes it.
var hostGone = func(log hclog.Logger, why string) {
	log.Warn("host process gone, exiting", "reason", why)
	os.Exit(0)
}
