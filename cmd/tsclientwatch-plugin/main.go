// Command tsclientwatch-plugin is the "Execution via TSClient Mountpoint"
// detector as a hashicorp/go-plugin plugin. Hosts launch it with
// plugin.Launch (or any go-plugin host speaking proto/tsclientwatch/v1); run
// by hand it explains that and exits, except for --version, which prints the
// build's version line.
package main

import (
	"fmt"
	"os"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/version"
	"github.com/tsclientwatch/tsclientwatch/plugin"
)

func main() {
	build := version.Get()
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Println(build)
		return
	}
	plugin.Serve(detector.MustNew(detector.DefaultConfig()),
		// The host sees the same version as the extension and the CLI.
		plugin.WithVersion(build.Version),
		// The host pushes its detector settings after launch; each push
		// is validated and builds a fresh matcher.
		plugin.WithReconfigure(func(cfg detector.Config) (detector.Detector, error) {
			return detector.New(cfg)
		}),
	)
}
