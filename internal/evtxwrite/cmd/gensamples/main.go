// Command gensamples writes the project's own EVTX sample,
// testdata/evtx/tsclient_positive.evtx, from evtxwrite.TSClientSamples.
// Run it with `go generate ./internal/evtxwrite/`.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/tsclientwatch/tsclientwatch/internal/evtxwrite"
)

func main() {
	out := flag.String("o", "tsclient_positive.evtx", "output file")
	flag.Parse()
	var b bytes.Buffer
	if err := evtxwrite.Write(&b, evtxwrite.TSClientSamples()); err != nil {
		fmt.Fprintln(os.Stderr, "gensamples:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gensamples:", err)
		os.Exit(1)
	}
}
