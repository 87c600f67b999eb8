package main

import (
	"context"
	"io"

	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/launch"
)

// buildDetector returns the detector the configuration asks for and the
// function that releases it: the in-process matcher, or, when plugin.path is
// set, the rule running in that go-plugin binary (verified against
// plugin.sha256, relaunched if it dies). Both give the same detections.
// The plugin's own log lines go to stderr.
func buildDetector(ctx context.Context, cfg config.Config, stderr io.Writer) (detector.Detector, func() error, error) {
	// go-plugin narrates every launch at info level; a CLI user only wants
	// to hear about problems unless they asked for debug output.
	logCfg := cfg
	if logCfg.Log.Level != "debug" {
		logCfg.Log.Level = "warn"
	}
	return launch.Detector(ctx, cfg, newLogger(logCfg, stderr))
}
