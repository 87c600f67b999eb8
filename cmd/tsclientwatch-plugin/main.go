// Command tsclientwatch-plugin is the "Execution via TSClient Mountpoint"
// detector as a hashicorp/go-plugin plugin. Hosts launch it with
// plugin.Launch (or any go-plugin host speaking proto/tsclientwatch/v1); run
// by hand it explains that and exits.
package main

import (
	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/plugin"
)

func main() {
	plugin.Serve(detector.MustNew(detector.DefaultConfig()),
		// The host pushes its detector settings after launch; each push
		// is validated and builds a fresh matcher.
		plugin.WithReconfigure(func(cfg detector.Config) (detector.Detector, error) {
			return detector.New(cfg)
		}),
	)
}
