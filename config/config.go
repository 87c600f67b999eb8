// Package config loads the one configuration schema every tsclientwatch
// binary shares: defaults, then a YAML, TOML or JSON file, then
// TSCLIENTWATCH_* environment variables, then command-line flags, each layer
// overriding the one before. Every value is checked, and an error names the
// key, the bad value, where it came from and what is allowed.
package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/tsclientwatch/tsclientwatch/detector"
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
)

// SourceTypes lists the valid sources[].type values in the order errors
// show them.
var SourceTypes = []string{SourceFile, SourceLive, SourceEBPF, SourceFanotify, SourceETW, SourceEventLog}

// LogLevels lists the valid log.level values.
var LogLevels = []string{"debug", "info", "warn", "error"}

// Config is the validated, effective configuration.
type Config struct {
	Detector detector.Config
	Log      Log
	Sources  []SourceConfig
	Store    Store
	Plugin   Plugin
	Input    Input
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

// Store bounds the in-memory detection store behind the tables.
type Store struct {
	MaxEvents int           // keep at most this many detections
	Expiry    time.Duration // drop detections older than this
}

// Plugin selects an out-of-process detector (hashicorp/go-plugin).
type Plugin struct {
	Path            string // plugin binary; empty runs the rule in process
	SHA256          string // lower-case hex checksum the binary must have
	AllowUnverified bool   // run Path without a checksum
}

// Default returns the configuration used when nothing overrides it.
func Default() Config {
	return Config{
		Detector: detector.DefaultConfig(),
		Log:      Log{Level: "info"},
		Store:    Store{MaxEvents: 50000, Expiry: time.Hour},
		Input:    Input{MaxRecordBytes: DefaultRecordBytes, MaxSpool: DefaultSpoolBytes},
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
		if explicit || !os.IsNotExist(err) {
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
func readFile(path string) (map[string]any, error) {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	fi, err := os.Stat(path)
	if err != nil {
		// Keeps its os.ErrNotExist identity: a missing default file is
		// not an error.
		return nil, err
	}
	switch ext {
	case "yaml", "yml", "toml", "json":
	default:
		return nil, fmt.Errorf("%s: unknown configuration format %q (want a .yaml, .yml, .toml or .json file)", path, filepath.Ext(path))
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory (want a .yaml, .yml, .toml or .json file)", path)
	}
	if !fi.Mode().IsRegular() {
		// A FIFO would block the open until someone writes to it; a
		// device could be read forever.
		return nil, fmt.Errorf("%s is not a regular file (mode %s) (want a .yaml, .yml, .toml or .json file)", path, fi.Mode())
	}
	if err := checkOwner(path, fi); err != nil {
		return nil, err
	}
	if fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s is %d bytes (want a configuration file of at most %d bytes)", path, fi.Size(), MaxFileSize)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	// Read through a limit: the file may have grown since Stat, or be a
	// device or pipe that Stat gave no size for.
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
