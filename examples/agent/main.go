// Command agent is a minimal custom agent that runs the tsclientwatch
// detector out of process: it launches the plugin binary through the host
// library, feeds it the events of log files (EVTX, Windows event XML, ECS or
// other JSON/NDJSON, gzip or not) and prints each detection as one JSON
// line. Copy it as the starting point for embedding the detector.
//
//	go build -o tsclientwatch-plugin ./cmd/tsclientwatch-plugin
//	go run ./examples/agent -plugin ./tsclientwatch-plugin \
//	    -sha256 "$(sha256sum tsclientwatch-plugin | cut -d' ' -f1)" testdata/
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/plugin"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/file"
)

// batchSize trades latency for throughput: one plugin round trip per batch.
const batchSize = 1024

func main() {
	path := flag.String("plugin", "", "path of the tsclientwatch-plugin binary")
	sum := flag.String("sha256", "", "SHA-256 the plugin binary must have (64 hex digits)")
	strict := flag.Bool("strict", false, "match exactly what the Elastic rule matches")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s -plugin PATH -sha256 HEX FILE|DIR|- ...\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if *path == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	n, err := run(ctx, os.Stdout, log, *path, *sum, *strict, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(2)
	}
	fmt.Fprintf(os.Stderr, "agent: %d detection(s)\n", n)
}

// record is what the agent prints for a detection.
type record struct {
	Time        time.Time `json:"time"`
	Host        string    `json:"host"`
	User        string    `json:"user"`
	PID         int64     `json:"pid"`
	Path        string    `json:"path"`
	CommandLine string    `json:"cmdline"`
	Form        string    `json:"form"`
	ClientDrive string    `json:"client_drive"`
	SharePath   string    `json:"share_path"`
	RuleID      string    `json:"rule_id"`
}

// run scans inputs through the plugin, writes one JSON line per detection
// to w and returns how many there were.
func run(ctx context.Context, w io.Writer, log *slog.Logger, path, sum string, strict bool, inputs []string) (int, error) {
	cfg := detector.DefaultConfig()
	cfg.Strict = strict
	// Launch verifies the checksum and file permissions, starts the plugin
	// with mutual TLS, pushes cfg, and relaunches the plugin if it dies.
	det, err := plugin.Launch(ctx, plugin.Options{Path: path, SHA256: sum, Config: cfg, Logger: log})
	if err != nil {
		return 0, err
	}
	defer det.Close() // stops the plugin process

	rule := det.Info()
	log.Info("plugin running", "rule", rule.Name, "version", det.Version())

	enc := json.NewEncoder(w)
	var (
		batch []detector.Event
		found []detector.Detection
		total int
	)
	flush := func() error {
		var err error
		// The client implements detector.Detector: swap in
		// detector.MustNew(cfg) and nothing else changes.
		found, err = det.Detect(ctx, batch, found[:0])
		var partial *detector.PartialError
		if errors.As(err, &partial) {
			// Some events got no verdict (the plugin refused them, or
			// they were too large to send); the others' detections are
			// in found.
			log.Warn("events without a verdict", "count", len(partial.Unjudged), "err", err)
		} else if err != nil {
			return err
		}
		for _, d := range found {
			err := enc.Encode(record{Time: d.Time, Host: d.Host, User: d.User, PID: d.PID, Path: d.Executable,
				CommandLine: d.CommandLine, Form: string(d.Form), ClientDrive: d.ClientDrive, SharePath: d.SharePath, RuleID: d.RuleID})
			if err != nil {
				return err
			}
		}
		total += len(found)
		batch = batch[:0]
		return nil
	}
	err = file.ReadPaths(ctx, inputs, file.Options{
		Sink: source.Sink{
			Event: func(e *detector.Event) error {
				batch = append(batch, *e) // e is only valid during the call
				if len(batch) == batchSize {
					return flush()
				}
				return nil
			},
			Bad: func(e *source.RecordError) { log.Warn("bad record", "error", e) },
		},
		Error: func(e *file.InputError) { log.Warn("input not read", "error", e) },
	})
	if err == nil {
		err = flush()
	}
	if errors.Is(err, context.Canceled) {
		err = errors.New("interrupted")
	}
	return total, err
}
