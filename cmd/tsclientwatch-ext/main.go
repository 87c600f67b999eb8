// Command tsclientwatch-ext is the osquery extension: it serves the
// tsclient_executions and tsclientwatch_status tables to osqueryd, filled
// by the sources in the tsclientwatch configuration. Build it with the name
// osquery requires for autoloaded extensions:
//
//	go build -o tsclientwatch.ext ./cmd/tsclientwatch-ext
//
// osqueryd starts it as "tsclientwatch.ext [--verbose] --socket PATH
// --timeout S --interval S"; --config selects the configuration file.
// Without a configuration file, or with one that has no sources key, it runs
// the platform's live process watcher. Logs go to standard error, which
// osqueryd records. --version prints the build's version; --help exits 0,
// which fleetd checks after each download.
package main

import (
	"cmp"
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
	"github.com/tsclientwatch/tsclientwatch/internal/version"
	"github.com/tsclientwatch/tsclientwatch/source/live"
	"github.com/tsclientwatch/tsclientwatch/state"
	"github.com/tsclientwatch/tsclientwatch/store"
	"github.com/tsclientwatch/tsclientwatch/tables"
)

// defaultConfigFile replaces config.DefaultPath() when set; tests point it
// at a file that does not exist so the host's configuration cannot leak in.
var defaultConfigFile string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit code. 0: stopped by
// a signal; 1: osquery went away, dropped the registration, or could not be
// reached (osqueryd's watcher starts a new copy); 2: bad command line.
// --version writes to stdout; everything else, usage included, to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("tsclientwatch.ext", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", defaultSocket(), "osquery extension manager socket")
	timeout := seconds(extension.DefaultTimeout)
	interval := seconds(extension.DefaultInterval)
	fs.Var(&timeout, "timeout", "seconds to wait for osquery at start and for each call")
	fs.Var(&interval, "interval", "seconds between checks that osquery is alive and lists this extension")
	verbose := fs.Bool("verbose", false, "log at debug level")
	showVersion := fs.Bool("version", false, "print the version, commit and build date, and exit")
	cfgFile := fs.String("config", "", "configuration file (default "+config.DefaultPath()+" if it exists)")
	fs.String("plugin", "", "run the rule in this go-plugin binary (plugin.path)")
	fs.String("plugin-sha256", "", "SHA-256 checksum the plugin binary must have (plugin.sha256)")
	config.MustBindFlag(fs, "plugin", "plugin.path")
	config.MustBindFlag(fs, "plugin-sha256", "plugin.sha256")
	stateDir := fs.String("state-dir", "", "keep detections and source positions in this directory across restarts (state.dir; default "+config.DefaultStateDir()+"; \"\" keeps them in memory)")
	config.MustBindFlag(fs, "state-dir", "state.dir")
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
	build := version.Get()
	if *showVersion {
		fmt.Fprintln(stdout, build)
		return 0
	}

	restrictUmask()
	level := new(slog.LevelVar)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	// A broken configuration does not stop the extension: it serves empty
	// tables and tsclientwatch_status says what is wrong, which a fleet
	// operator can query remotely; exiting would only make osqueryd
	// restart it in a loop. Nothing of a broken file is trusted, its
	// sources included: the default live watcher is for a configuration
	// without a sources key, and a broken file may have meant "sources: []".
	var problems []tables.SourceStatus
	cfg, err := config.Load(config.Options{File: *cfgFile, DefaultFile: defaultConfigFile, Flags: fs})
	if err != nil {
		log.Error("configuration", "err", err)
		cfg = config.Default()
		if fs.Changed("state-dir") {
			cfg.State.Dir = *stateDir
		}
		cfg.SourcesGiven = true // none
		problems = append(problems, tables.SourceStatus{Type: "config", Target: *cfgFile, State: "failed", Errors: 1, LastError: err.Error()})
	}
	if !cfg.SourcesGiven {
		cfg.Sources = config.DefaultExtensionSources()
	}
	level.Set(parseLevel(cfg.Log.Level))
	if *verbose {
		level.Set(slog.LevelDebug)
	}

	log.Info("starting", "version", build.Version, "commit", build.Commit, "config", cmp.Or(cfg.File, "none"), "sources", len(cfg.Sources))
	// The store first: what earlier runs detected is served even when the
	// sources cannot start. It is closed last, after the collector has
	// handed it everything.
	st, stateProblem := openStore(ctx, cfg, log)
	defer closeStore(st, log)
	if stateProblem != nil {
		problems = append(problems, *stateProblem)
	}
	var coll *collect.Collector
	if c, release, err := newCollector(ctx, cfg, st, *socket, log); err != nil {
		log.Error("sources", "err", err)
		problems = append(problems, tables.SourceStatus{Type: "sources", Target: cfg.File, State: "failed", Errors: 1, LastError: err.Error()})
	} else {
		coll = c
		runCtx, cancel := context.WithCancel(ctx)
		go coll.Run(runCtx)
		defer func() { cancel(); release() }()
	}
	status := func() []tables.SourceStatus {
		rows := slices.Clone(problems)
		if coll != nil && len(cfg.Sources) > 0 { // without sources its row speaks of CLI flags
			rows = append(rows, coll.Status()...)
		}
		if len(rows) == 0 {
			rows = append(rows, tables.NoSource(fmt.Sprintf("sources: [] in %s: no event source configured, tsclient_executions stays empty", cfg.File)))
		}
		return rows
	}

	err = extension.Run(ctx, extension.Options{
		Socket:   *socket,
		Timeout:  time.Duration(timeout),
		Interval: time.Duration(interval),
		Version:  build.Version,
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

// openStore returns the detection store: durable in state.dir when one is
// set. A state directory that cannot be used (unsafe, read-only, held by
// another process) leaves the store in memory and a type = 'state' row in
// tsclientwatch_status saying why: the extension never stops over it, so
// osqueryd cannot be made to restart it in a loop. A damaged database is
// moved aside by state.Open and the store row says so.
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger) (*store.Store, *tables.SourceStatus) {
	opts := store.Options{MaxEvents: cfg.Store.MaxEvents, MaxBytes: cfg.Store.MaxBytes, Expiry: cfg.Store.Expiry}
	if cfg.State.Dir == "" {
		return store.New(opts), nil
	}
	start := time.Now()
	db, snap, err := state.Open(ctx, cfg.State.Dir)
	if err != nil {
		log.Error("state directory unusable: detections are kept in memory only", "dir", cfg.State.Dir, "err", err)
		return store.New(opts), &tables.SourceStatus{Type: "state", Target: cfg.State.Dir, State: "failed", Errors: 1,
			LastError: err.Error() + "; detections are kept in memory only until this is fixed and the extension restarts"}
	}
	if r := db.Recovered(); r != nil {
		log.Error("state database", "err", r)
	}
	st := store.Open(opts, db, snap)
	log.Info("state loaded", "path", db.Path(), "rows", st.Persistence().Loaded, "held", len(snap.Pending),
		"cursors", len(snap.Cursors), "took", time.Since(start).Round(time.Millisecond))
	return st, nil
}

// closeStore writes what is queued and closes the state database.
func closeStore(st *store.Store, log *slog.Logger) {
	if err := st.Close(5 * time.Second); err != nil {
		log.Error("state database", "err", err)
	}
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
		OpenLive: collect.LiveOpener(live.Options{MountNames: cfg.Detector.XrdpMountNames, XrdpSesmanLog: cfg.Attribution.XrdpSesmanLog}), OpenOsquery: collect.OsqueryOpener(socket),
		MaxRecordBytes: cfg.Input.MaxRecordBytes, MaxSpool: cfg.Input.MaxSpool,
		Evidence: cfg.Evidence, Log: log.With("component", "evidence")})
	if err != nil {
		closeDetector()
		return nil, nil, err
	}
	return coll, func() { coll.Close(); closeDetector() }, nil
}

func defaultSocket() string { return defaultSocketFor(runtime.GOOS) }

// defaultSocketFor is osqueryd's default --extensions_socket on goos
// (osquery's OSQUERY_SOCKET "osquery.em": /var/osquery/ on Linux,
// \\.\pipe\ on Windows). osqueryd passes --socket to the extensions it
// autoloads anyway; the default matters when the extension is started by
// hand. (\\.\pipe\shell.em is osqueryi's, when no osqueryd holds the
// default.)
func defaultSocketFor(goos string) string {
	if goos == "windows" {
		return `\\.\pipe\osquery.em`
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
