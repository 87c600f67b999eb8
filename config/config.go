// Package config loads the one configuration schema every tsclientwatch
// binary shares: defaults, then a YAML, TOML or JSON file, then
// TSCLIENTWATCH_* environment variables, then command-line flags, each layer
// overriding the one before. Every value is checked, and an error names the
// key, the bad value, where it came from and what is allowed.
package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/safefile"
)

// EnvPrefix starts the name of every environment variable the configuration
// reads: TSCLIENTWATCH_STORE_MAX_EVENTS sets store.max_events.
const EnvPrefix = "TSCLIENTWATCH_"

// EnvFile names the environment variable that selects the configuration
// file when no --config flag is given.
const EnvFile = EnvPrefix + "CONFIG"

// Source types a sources entry may name.
const (
	SourceFile     = "file"     // a log file or directory (EVTX, event XML, JSON)
	SourceLive     = "live"     // the platform's best live watcher
	SourceEBPF     = "ebpf"     // Linux eBPF exec tracepoint
	SourceFanotify = "fanotify" // Linux fanotify FAN_OPEN_EXEC
	SourceETW      = "etw"      // Windows kernel process ETW provider
	SourceEventLog = "eventlog" // Windows Event Log subscription
	SourceOsquery  = "osquery"  // osquery's own process event tables, through its extension socket
)

// SourceTypes lists the valid sources[].type values in the order errors
// show them.
var SourceTypes = []string{SourceFile, SourceLive, SourceEBPF, SourceFanotify, SourceETW, SourceEventLog, SourceOsquery}

// OsqueryTables lists the valid sources[].table values of an osquery
// source: auto picks the process table osquery has enabled.
var OsqueryTables = []string{"auto", "process_etw_events", "bpf_process_events", "process_events"}

// Bounds and default of sources[].interval for osquery sources.
const (
	MinOsqueryInterval     = time.Second
	MaxOsqueryInterval     = time.Hour
	DefaultOsqueryInterval = 10 * time.Second
)

// LogLevels lists the valid log.level values.
var LogLevels = []string{"debug", "info", "warn", "error"}

// Config is the validated, effective configuration.
type Config struct {
	Detector detector.Config
	Log      Log
	Sources  []SourceConfig
	// SourcesGiven reports whether the configuration file has a sources
	// key. A key with an empty list ("sources: []") runs no source on
	// purpose; an absent key leaves the choice to the program: the osquery
	// extension then runs the live watcher (DefaultExtensionSources), the
	// CLI runs only what its flags ask for.
	SourcesGiven bool
	Store        Store
	Plugin       Plugin
	Input        Input
	State        State
	// Attribution configures how detections are tied to their RDP client.
	Attribution Attribution
	// Evidence configures what is read of a live detection's executable
	// while it runs (docs/evidence.md).
	Evidence Evidence
	// File is the configuration file that was read, "" when none was.
	File string
}

// Log configures diagnostics.
type Log struct {
	Level string // debug, info, warn or error
}

// SourceConfig is one entry of sources: where events come from.
type SourceConfig struct {
	Type   string // one of SourceTypes
	Path   string // required for file sources, empty for the others
	Follow bool   // keep reading a file as it grows

	// osquery sources only.
	Interval time.Duration // how often osquery is asked for new rows
	Table    string        // one of OsqueryTables
	Socket   string        // osquery's extension socket; "" means the extension's own
}

// Input bounds what one record of an input file may cost.
type Input struct {
	// MaxRecordBytes caps one NDJSON line, JSON document or XML event;
	// a longer one is reported and skipped without being held whole.
	MaxRecordBytes int
	// MaxSpool caps the temporary copy of an EVTX log read from standard
	// input or from gzip (the EVTX reader needs random access); a larger
	// stream is refused and its copy removed.
	MaxSpool int64
}

// Attribution configures what live attribution reads (docs/attribution.md).
type Attribution struct {
	// XrdpSesmanLog is xrdp-sesman's log, read on Linux for an xrdp
	// session's client address when utmp holds no record of it; ""
	// reads utmp only.
	XrdpSesmanLog string
}

// Evidence configures the evidence collector (package evidence,
// docs/evidence.md): for live detections, the executable is read while it
// runs, hashed and, with Dir set, copied.
type Evidence struct {
	Hash         bool          // read and hash the executable of each live detection
	Dir          string        // keep copies here (0700); "" keeps none
	MaxFileBytes int64         // a larger executable is detected, neither hashed nor copied
	MaxDirBytes  int64         // bound of Dir; the oldest copies are evicted first
	Concurrency  int           // reads at once
	Timeout      time.Duration // a read taking longer is abandoned
	Queue        int           // detections waiting for evidence; past it they are released without
}

// Evidence defaults and bounds (docs/evidence.md).
const (
	DefaultEvidenceMaxFile = 64 << 20
	DefaultEvidenceMaxDir  = 1 << 30
	DefaultEvidenceWorkers = 2
	DefaultEvidenceTimeout = 30 * time.Second
	DefaultEvidenceQueue   = 1024

	MaxEvidenceFile    = 1 << 36 // 64 GiB: past any real program, stops a typo
	MinEvidenceDir     = 1 << 20
	MaxEvidenceDir     = 1 << 42 // 4 TiB
	MaxEvidenceWorkers = 64
	MinEvidenceTimeout = 100 * time.Millisecond
	MaxEvidenceTimeout = 10 * time.Minute
	MaxEvidenceQueue   = 1 << 20
)

// Store bounds the in-memory detection store behind the tables.
type Store struct {
	MaxEvents int           // keep at most this many detections
	MaxBytes  int64         // and at most this many bytes of them (reply size)
	Expiry    time.Duration // drop detections older than this
}

// State says where the extension keeps what must survive a restart: the
// detections and where each source stopped reading.
type State struct {
	// Dir is the state directory; empty keeps everything in memory.
	Dir string
}

// DefaultStateDir returns the state directory used unless state.dir says
// otherwise: /var/lib/tsclientwatch on Linux, /var/db/tsclientwatch on
// macOS, %ProgramData%\tsclientwatch\state on Windows.
func DefaultStateDir() string {
	switch runtime.GOOS {
	case "windows":
		dir := os.Getenv("ProgramData")
		if dir == "" {
			dir = `C:\ProgramData`
		}
		return filepath.Join(dir, "tsclientwatch", "state")
	case "darwin":
		return "/var/db/tsclientwatch"
	}
	return "/var/lib/tsclientwatch"
}

// Plugin selects an out-of-process detector (hashicorp/go-plugin).
type Plugin struct {
	Path            string // plugin binary; empty runs the rule in process
	SHA256          string // lower-case hex checksum the binary must have
	AllowUnverified bool   // run Path without a checksum
}

// DefaultExtensionSources returns the sources the osquery extension runs
// when the configuration has no sources key (no file at all, or a file that
// only tunes other settings): the platform's live watcher.
func DefaultExtensionSources() []SourceConfig {
	return []SourceConfig{{Type: SourceLive}}
}

// Default returns the configuration used when nothing overrides it.
func Default() Config {
	return Config{
		Detector:    detector.DefaultConfig(),
		Log:         Log{Level: "info"},
		Store:       Store{MaxEvents: 50000, MaxBytes: DefaultStoreBytes, Expiry: DefaultExpiry},
		Input:       Input{MaxRecordBytes: DefaultRecordBytes, MaxSpool: DefaultSpoolBytes},
		State:       State{Dir: DefaultStateDir()},
		Attribution: Attribution{XrdpSesmanLog: DefaultXrdpSesmanLog},
		Evidence: Evidence{Hash: true, MaxFileBytes: DefaultEvidenceMaxFile, MaxDirBytes: DefaultEvidenceMaxDir,
			Concurrency: DefaultEvidenceWorkers, Timeout: DefaultEvidenceTimeout, Queue: DefaultEvidenceQueue},
	}
}

// DefaultPath returns the file read when neither --config nor
// TSCLIENTWATCH_CONFIG names one: /etc/tsclientwatch/config.yaml, or
// %ProgramData%\tsclientwatch\config.yaml on Windows.
func DefaultPath() string {
	if runtime.GOOS == "windows" {
		dir := os.Getenv("ProgramData")
		if dir == "" {
			dir = `C:\ProgramData`
		}
		return filepath.Join(dir, "tsclientwatch", "config.yaml")
	}
	return "/etc/tsclientwatch/config.yaml"
}

// Options says where Load looks.
type Options struct {
	// File is the configuration file given with --config. When empty, the
	// file named by TSCLIENTWATCH_CONFIG is read, else DefaultFile if it
	// exists. A file named here or in the environment must exist.
	File string
	// DefaultFile replaces DefaultPath(), for tests.
	DefaultFile string
	// Flags holds the command line. Only flags tied to a key with BindFlag
	// and set by the user override the configuration.
	Flags *pflag.FlagSet
	// LookupEnv reads the environment; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// flagKeyAnnotation marks a pflag with the configuration key it sets.
const flagKeyAnnotation = "tsclientwatch/config-key"

// BindFlag ties the flag called name in fs to a configuration key, so Load
// lets it override that key when the user sets it. The flag's own default
// is never used: the configuration's default, file and environment decide
// until the flag is given.
func BindFlag(fs *pflag.FlagSet, name, key string) error {
	if _, ok := schema[key]; !ok {
		return fmt.Errorf("bind flag --%s: unknown configuration key %q", name, key)
	}
	if fs.Lookup(name) == nil {
		return fmt.Errorf("bind flag --%s to %s: no such flag", name, key)
	}
	return fs.SetAnnotation(name, flagKeyAnnotation, []string{key})
}

// MustBindFlag is BindFlag for flags and keys fixed in the program's source.
func MustBindFlag(fs *pflag.FlagSet, name, key string) {
	if err := BindFlag(fs, name, key); err != nil {
		panic(err)
	}
}

// EnvName returns the environment variable that sets key.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Load builds the effective configuration: defaults < file < environment <
// flags. It fails on an unreadable or unparsable file, an unknown key and
// any invalid value.
func Load(opts Options) (Config, error) {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v := viper.New()
	for key, k := range schema {
		if k.def != nil {
			v.SetDefault(key, k.def)
		}
	}

	file, explicit := opts.File, true
	if file == "" {
		if f, ok := lookup(EnvFile); ok && f != "" {
			file = f
		} else {
			file, explicit = opts.DefaultFile, false
			if file == "" {
				file = DefaultPath()
			}
		}
	}
	origin := origins{}
	used := ""
	if settings, err := readFile(file); err != nil {
		if explicit || !errors.Is(err, fs.ErrNotExist) {
			return Config{}, err
		}
	} else {
		if err := checkKeys(file, settings); err != nil {
			return Config{}, err
		}
		if err := v.MergeConfigMap(settings); err != nil {
			return Config{}, fmt.Errorf("%s: %w", file, err)
		}
		used = file
		origin.file = file
	}

	// The environment is merged as one more map rather than through
	// viper's BindEnv, so tests can supply it and so an error can name the
	// variable; flags, bound below, still override it.
	// Sources have no one-line spelling; refuse the variable rather than
	// ignore what the user evidently meant to configure.
	if val, ok := lookup(EnvName("sources")); ok && val != "" {
		return Config{}, fmt.Errorf("sources: %s cannot come from the environment (from environment %s); want %s, in the configuration file", strconv.Quote(val), EnvName("sources"), want("sources"))
	}
	env := map[string]any{}
	origin.env = map[string]string{}
	for key, k := range schema {
		if !k.env {
			continue
		}
		name := EnvName(key)
		if val, ok := lookup(name); ok && val != "" {
			setNested(env, key, val)
			origin.env[key] = name
		}
	}
	if len(env) > 0 {
		if err := v.MergeConfigMap(env); err != nil {
			return Config{}, fmt.Errorf("environment: %w", err)
		}
	}

	origin.flags = map[string]string{}
	if opts.Flags != nil {
		var bindErr error
		opts.Flags.VisitAll(func(f *pflag.Flag) {
			keys := f.Annotations[flagKeyAnnotation]
			if len(keys) != 1 || bindErr != nil {
				return
			}
			bindErr = v.BindPFlag(keys[0], f)
			if f.Changed {
				origin.flags[keys[0]] = "--" + f.Name
			}
		})
		if bindErr != nil {
			return Config{}, bindErr
		}
	}

	cfg, err := decode(v, origin)
	if err != nil {
		return Config{}, err
	}
	cfg.File = used
	cfg.SourcesGiven = v.IsSet("sources")
	return cfg, nil
}

// MaxFileSize bounds a configuration file. Real ones are a few hundred
// bytes; the bound keeps a wrong path (a log, a device) from being read
// whole.
const MaxFileSize = 1 << 20

// readFile parses one configuration file, choosing the format by its
// extension. Values are read with the same parsers viper uses, but here so
// that syntax errors can name the line and empty values are still visible
// (viper drops keys whose value is null).
//
// Whoever can change the file decides what runs as root (plugin.path), so
// it is opened once, with safefile: checked by descriptor on Unix (a
// regular file, owned by root or this user, not writable by group or
// others, in directories up to / that only root or this user can change)
// and by owner and DACL on Windows (the file and every directory up to the
// volume root). The checks and the read use the same open file, so a link
// or file swapped in between cannot be read unchecked.
func readFile(path string) (map[string]any, error) {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	switch ext {
	case "yaml", "yml", "toml", "json":
	default:
		if fi, err := os.Stat(path); err != nil {
			return nil, err // keeps os.ErrNotExist: a missing default file is fine
		} else if fi.IsDir() {
			return nil, fmt.Errorf("%s is a directory (want a .yaml, .yml, .toml or .json file)", path)
		}
		return nil, fmt.Errorf("%s: unknown configuration format %q (want a .yaml, .yml, .toml or .json file)", path, filepath.Ext(path))
	}
	f, _, err := safefile.Open(path)
	if err != nil {
		if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
			return nil, fmt.Errorf("%s is a directory (want a .yaml, .yml, .toml or .json file)", path)
		}
		// Keeps its os.ErrNotExist identity: a missing default file is
		// not an error. Every other refusal names the file or directory
		// at fault and what to do.
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s is %d bytes (want a configuration file of at most %d bytes)", path, fi.Size(), MaxFileSize)
	}
	// Read through a limit: the file may grow while it is read.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s is more than %d bytes (want a configuration file of at most %d bytes)", path, MaxFileSize, MaxFileSize)
	}
	data, err = utf8Text(path, data)
	if err != nil {
		return nil, err
	}
	return parse(path, ext, data)
}

// setNested stores val at the dotted key inside m.
func setNested(m map[string]any, key string, val any) {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[p] = sub
		}
		m = sub
	}
	m[parts[len(parts)-1]] = val
}
