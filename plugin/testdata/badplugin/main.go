// Command badplugin is a plugin that breaks the rule every plugin must keep:
// it prints to standard output before serving. Tests use it to check that
// the host's error says so.
package main

import (
	"fmt"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/plugin"
)

func main() {
	fmt.Println("starting detector, hello from main()")
	plugin.Serve(detector.MustNew(detector.DefaultConfig()))
}
