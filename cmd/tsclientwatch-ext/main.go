// Command tsclientwatch-ext is the osquery extension: it serves the
// tsclient_executions and tsclientwatch_status tables to osqueryd, filled
// by the sources in the tsclientwatch configuration. Build it with the name
// osquery requires for autoloaded extensions:
//
//	go build -o tsclientwatch.ext ./cmd/tsclientwatch-ext
//
// osqueryd starts it as "tsclientwatch.ext [--verbose] --socket PATH
// --timeout S --interval S"; --config selects the configuration file.
// Logs go to standard error, which osqueryd records.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/tsclientwatch/tsclientwatch/collect"
	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/extension"
	"github.com/tsclientwatch/tsclientwatch/internal/escape"
	"github.com/tsclientwatch/tsclientwatch/internal/launch"
	"github.com/tsclientwatch/tsclientwatch/store"
	"github.com/tsclientwatch/tsclientwatch/tables"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit code. 0: stopped by
// a signal; 1: osquery went away, dropped the registration, or could not be
// reached (osqueryd's watcher starts a new copy); 2: bad command line.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := pflag.NewFlagSet("tsclientwatch.ext", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", defaultSocket(), "osquery extension manager socket")
	timeout := seconds(extension.DefaultTimeout)
	interval := seconds(extension.DefaultInterval)
	fs.Var(&timeout, "timeout", "seconds to wait for osquery at start and for each call")
	fs.Var(&interval, "interval", "seconds between checks that osquery is alive and lists this extension")
	verbose := fs.Bool("verbose", false, "log at debug level")
	cfgFile := fs.String("config", "", "configuration file (default "+config.DefaultPath()+" if it exists)")
	fs.String("plugin", "", "run the rule in this go-plugin binary (plugin.path)")
	fs.String("plugin-sha256", "", "SHA-256 checksum the plugin binary must have (plugin.sha256)")
	config.MustBindFlag(fs, "plugin", "plugin.path")
	config.MustBindFlag(fs, "plugin-sha256", "plugin.sha256")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0 // pflag printed the usage
		}
		escape.Fprintf(stderr, "tsclientwatch.ext: %v\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		escape.Fprintf(stderr, "tsclientwatch.ext: unexpected arguments: %q\n", fs.Args())
		return 2
	}

	restrictUmask()
	level := new(slog.LevelVar)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	// A broken configuration does not stop the extension: it serves empty
	// tables and tsclientwatch_status says what is wrong, which a fleet
	// operator can query remotely; exiting would only make osqueryd
	// restart it in a loop.
	var problems []tables.SourceStatus
	cfg, err := config.Load(config.Options{File: *cfgFile, Flags: fs})
	if err != nil {
		log.Error("configuration", "err", err)
		cfg = config.Default()
		problems = append(problems, tables.SourceStatus{Type: "config", Target: *cfgFile, State: "failed", Errors: 1, LastError: err.Error()})
	}
	level.Set(parseLevel(cfg.Log.Level))
	if *verbose {
		level.Set(slog.LevelDebug)
	}

	st := store.New(store.Options{MaxEvents: cfg.Store.MaxEvents, MaxBytes: cfg.Store.MaxBytes, Expiry: cfg.Store.Expiry})
	status := func() []tables.SourceStatus { return problems }
	if len(problems) == 0 {
		status = nil // the extension reports "no source configured"
	}
	if coll, release, err := newCollector(ctx, cfg, st, *socket, log); err != nil {
		log.Error("sources", "err", err)
		problems = append(problems, tables.SourceStatus{Type: "sources", Target: cfg.File, State: "failed", Errors: 1, LastError: err.Error()})
		status = func() []tables.SourceStatus { return problems }
	} else {
		runCtx, cancel := context.WithCancel(ctx)
		go coll.Run(runCtx)
		defer func() { cancel(); release() }()
		fixed := slices.Clone(problems)
		status = func() []tables.SourceStatus { return append(slices.Clone(fixed), coll.Status()...) }
	}

	err = extension.Run(ctx, extension.Options{
		Socket:   *socket,
		Timeout:  time.Duration(timeout),
		Interval: time.Duration(interval),
		Version:  version,
		Store:    st,
		Status:   status,
		Log:      log,
	})
	if err != nil {
		log.Error("extension stopped", "err", err)
		return 1
	}
	log.Info("extension stopped")
	return 0
}

// newCollector builds the detector (in process, or the go-plugin binary
// plugin.path names) and the collector for the configured sources; osquery
// sources read through socket, osquery's extension socket. The returned
// function releases both.
func newCollector(ctx context.Context, cfg config.Config, st *store.Store, socket string, log *slog.Logger) (*collect.Collector, func(), error) {
	det, closeDetector, err := launch.Detector(ctx, cfg, log.With("component", "plugin"))
	if err != nil {
		return nil, nil, fmt.Errorf("detector: %w", err)
	}
	coll, err := collect.New(collect.Options{Sources: cfg.Sources, Detector: det, Store: st,
		OpenLive: collect.LiveOpener(cfg.Detector.XrdpMountNames), OpenOsquery: collect.OsqueryOpener(socket),
		MaxRecordBytes: cfg.Input.MaxRecordBytes, MaxSpool: cfg.Input.MaxSpool})
	if err != nil {
		closeDetector()
		return nil, nil, err
	}
	return coll, func() { coll.Close(); closeDetector() }, nil
}

func defaultSocket() string {
	if runtime.GOOS == "windows" {
		return `\\.\pipe\shell.em`
	}
	return "/var/osquery/osquery.em"
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// seconds is a duration flag that takes what osqueryd passes ("3", whole
// seconds) as well as fractions ("0.5") and Go durations ("1500ms").
type seconds time.Duration

func (s *seconds) String() string {
	return strconv.FormatFloat(time.Duration(*s).Seconds(), 'f', -1, 64)
}
func (s *seconds) Type() string { return "seconds" }
func (s *seconds) Set(v string) error {
	v = strings.TrimSpace(v)
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f <= 0 || f > 86400 {
			return fmt.Errorf("%s: want a number of seconds between 0 and 86400", v)
		}
		*s = seconds(f * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return fmt.Errorf("%s: want seconds (3) or a duration (1500ms)", v)
	}
	*s = seconds(d)
	return nil
}
