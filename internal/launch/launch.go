// Package launch builds the detector a configuration asks for: the
// in-process matcher, or the rule running in a go-plugin binary. Every
// command (scan, query, watch, the osquery extension) goes through it, so
// the plugin.* keys mean the same thing everywhere.
package launch

import (
	"context"
	"log/slog"

	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/plugin"
)

// Detector returns the detector cfg asks for and the function that
// releases it. With plugin.path set, the binary is verified against
// plugin.sha256 (or plugin.allow_unverified must be true), launched, and
// relaunched if it dies; its log lines go to log. Both kinds give the same
// detections.
func Detector(ctx context.Context, cfg config.Config, log *slog.Logger) (detector.Detector, func() error, error) {
	if cfg.Plugin.Path == "" {
		m, err := detector.New(cfg.Detector)
		if err != nil {
			return nil, nil, err
		}
		return m, func() error { return nil }, nil
	}
	c, err := plugin.Launch(ctx, plugin.Options{
		Path:            cfg.Plugin.Path,
		SHA256:          cfg.Plugin.SHA256,
		AllowUnverified: cfg.Plugin.AllowUnverified,
		Config:          cfg.Detector,
		Logger:          log,
	})
	if err != nil {
		return nil, nil, err
	}
	return c, c.Close, nil
}
