package main

import (
	"context"
	"io"

	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/plugin"
)

// buildDetector returns the detector the configuration asks for and the
// function that releases it: the in-process matcher, or, when plugin.path is
// set, the rule running in that go-plugin binary (verified against
// plugin.sha256, relaunched if it dies). Both give the same detections.
// The plugin's own log lines go to stderr.
func buildDetector(ctx context.Context, cfg config.Config, stderr io.Writer) (detector.Detector, func() error, error) {
	if cfg.Plugin.Path == "" {
		m, err := detector.New(cfg.Detector)
		if err != nil {
			return nil, nil, err
		}
		return m, func() error { return nil }, nil
	}
	// go-plugin narrates every launch at info level; a CLI user only wants
	// to hear about problems unless they asked for debug output.
	logCfg := cfg
	if logCfg.Log.Level != "debug" {
		logCfg.Log.Level = "warn"
	}
	c, err := plugin.Launch(ctx, plugin.Options{
		Path:            cfg.Plugin.Path,
		SHA256:          cfg.Plugin.SHA256,
		AllowUnverified: cfg.Plugin.AllowUnverified,
		Config:          cfg.Detector,
		Logger:          newLogger(logCfg, stderr),
	})
	if err != nil {
		return nil, nil, err
	}
	return c, c.Close, nil
}
