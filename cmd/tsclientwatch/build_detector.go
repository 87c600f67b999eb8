package main

import (
	"context"
	"fmt"

	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/detector"
)

// buildDetector returns the detector the configuration asks for and the
// function that releases it. This build runs the rule in process only; the
// go-plugin host replaces this file.
func buildDetector(_ context.Context, cfg config.Config) (detector.Detector, func() error, error) {
	if cfg.Plugin.Path != "" {
		return nil, nil, fmt.Errorf("plugin.path %q: plugin support is not available in this build", cfg.Plugin.Path)
	}
	m, err := detector.New(cfg.Detector)
	if err != nil {
		return nil, nil, err
	}
	return m, func() error { return nil }, nil
}
