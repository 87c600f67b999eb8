package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// env returns a LookupEnv over a fixed map, so tests never see the real
// environment.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testFlags builds a flag set like the CLI's, with the flags bound to keys.
func testFlags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.Bool("strict", false, "")
	fs.StringSlice("extensions", []string{".exe"}, "")
	fs.Int("max-events", 50000, "")
	fs.String("expiry", "", "")
	fs.String("log-level", "info", "")
	fs.String("plugin", "", "")
	fs.String("plugin-sha256", "", "")
	for flag, key := range map[string]string{
		"strict": "detector.strict", "extensions": "detector.extensions",
		"max-events": "store.max_events", "expiry": "store.expiry",
		"log-level": "log.level", "plugin": "plugin.path", "plugin-sha256": "plugin.sha256",
	} {
		MustBindFlag(fs, flag, key)
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func load(t *testing.T, opts Options) (Config, error) {
	t.Helper()
	if opts.LookupEnv == nil {
		opts.LookupEnv = env(nil)
	}
	if opts.DefaultFile == "" {
		opts.DefaultFile = filepath.Join(t.TempDir(), "absent.yaml")
	}
	return Load(opts)
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got %+v\nwant %+v", cfg, want)
	}
	// Review H2: a gzip bomb on a tmpfs /tmp is bounded well below 4 GiB.
	if cfg.Input.MaxSpool != 512<<20 {
		t.Errorf("input.max_spool defaults to %d, want 512 MiB", cfg.Input.MaxSpool)
	}
	if !reflect.DeepEqual(cfg.Detector, detector.DefaultConfig()) {
		t.Fatalf("detector defaults drifted from detector.DefaultConfig: %+v", cfg.Detector)
	}
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "c.yaml", "store:\n  max_events: 100\n  expiry: 2h\ndetector:\n  strict: true\n  extensions: [.exe, .scr]\n")
	tests := []struct {
		name      string
		file      string
		env       map[string]string
		args      []string
		maxEvents int
		expiry    time.Duration
		strict    bool
		exts      []string
	}{
		{"defaults", "", nil, nil, 50000, 24 * time.Hour, false, []string{".exe"}},
		{"file over defaults", file, nil, nil, 100, 2 * time.Hour, true, []string{".exe", ".scr"}},
		{"env over file", file, map[string]string{
			"TSCLIENTWATCH_STORE_MAX_EVENTS": "200", "TSCLIENTWATCH_DETECTOR_STRICT": "false",
			"TSCLIENTWATCH_DETECTOR_EXTENSIONS": ".com, .bat",
		}, nil, 200, 2 * time.Hour, false, []string{".com", ".bat"}},
		{"env over defaults", "", map[string]string{"TSCLIENTWATCH_STORE_EXPIRY": "5m"}, nil, 50000, 5 * time.Minute, false, []string{".exe"}},
		{"flag over env and file", file, map[string]string{"TSCLIENTWATCH_STORE_MAX_EVENTS": "200", "TSCLIENTWATCH_DETECTOR_STRICT": "true"},
			[]string{"--max-events=300", "--strict=false", "--extensions=.pif"}, 300, 2 * time.Hour, false, []string{".pif"}},
		{"unset flag keeps file value", file, nil, []string{"--expiry=3h"}, 100, 3 * time.Hour, true, []string{".exe", ".scr"}},
		{"empty env is unset", file, map[string]string{"TSCLIENTWATCH_STORE_MAX_EVENTS": ""}, nil, 100, 2 * time.Hour, true, []string{".exe", ".scr"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := load(t, Options{File: tt.file, LookupEnv: env(tt.env), Flags: testFlags(t, tt.args...)})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Store.MaxEvents != tt.maxEvents || cfg.Store.Expiry != tt.expiry || cfg.Detector.Strict != tt.strict ||
				!reflect.DeepEqual(cfg.Detector.Extensions, tt.exts) {
				t.Fatalf("got max_events=%d expiry=%v strict=%v extensions=%q", cfg.Store.MaxEvents, cfg.Store.Expiry, cfg.Detector.Strict, cfg.Detector.Extensions)
			}
			if cfg.File != tt.file {
				t.Fatalf("File = %q, want %q", cfg.File, tt.file)
			}
		})
	}
}

func TestFileLookup(t *testing.T) {
	t.Parallel()
	explicit := writeFile(t, "explicit.yaml", "log:\n  level: debug\n")
	fromEnv := writeFile(t, "env.yaml", "log:\n  level: warn\n")
	def := writeFile(t, "default.yaml", "log:\n  level: error\n")
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	tests := []struct {
		name    string
		opts    Options
		level   string
		file    string
		wantErr string
	}{
		{"flag wins", Options{File: explicit, DefaultFile: def, LookupEnv: env(map[string]string{EnvFile: fromEnv})}, "debug", explicit, ""},
		{"env next", Options{DefaultFile: def, LookupEnv: env(map[string]string{EnvFile: fromEnv})}, "warn", fromEnv, ""},
		{"default last", Options{DefaultFile: def}, "error", def, ""},
		{"missing default is fine", Options{DefaultFile: missing}, "info", "", ""},
		{"missing explicit file", Options{File: missing}, "", "", "missing.yaml"},
		{"missing env file", Options{LookupEnv: env(map[string]string{EnvFile: missing})}, "", "", "missing.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := load(t, tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want mention of %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Log.Level != tt.level || cfg.File != tt.file {
				t.Fatalf("level=%q file=%q, want %q %q", cfg.Log.Level, cfg.File, tt.level, tt.file)
			}
		})
	}
}

// full is one configuration setting every key, in each format.
var full = Config{
	Detector: detector.Config{Strict: true, Extensions: []string{".exe", ".com"}, XrdpMountNames: []string{"thinclient_drives"}},
	Log:      Log{Level: "debug"},
	Sources: []SourceConfig{
		{Type: "file", Path: "/var/log/sysmon.evtx", Follow: true},
		{Type: "ebpf"},
		{Type: "osquery", Interval: 30 * time.Second, Table: "bpf_process_events", Socket: "/var/osquery/osquery.em"},
	},
	SourcesGiven: true,
	Store:        Store{MaxEvents: 1000, MaxBytes: 8 << 20, Expiry: 90 * time.Minute},
	State:        State{Dir: "/srv/tsclientwatch"},
	Plugin:       Plugin{Path: "/usr/libexec/tsclientwatch-plugin", SHA256: strings.Repeat("ab", 32)},
	Input:        Input{MaxRecordBytes: 1 << 20, MaxSpool: 8 << 30},
	// Where Debian's xrdp writes when sesman.ini logs to syslog's dir.
	Attribution: Attribution{XrdpSesmanLog: "/var/log/xrdp/sesman.log"},
	Evidence: Evidence{Hash: false, Dir: "/var/lib/tsclientwatch/evidence", MaxFileBytes: 8 << 20, MaxDirBytes: 256 << 20,
		Concurrency: 4, Timeout: 5 * time.Second, Queue: 64},
}

func TestFormats(t *testing.T) {
	t.Parallel()
	sum := strings.Repeat("ab", 32)
	tests := []struct{ name, text string }{
		{"c.yaml", `
detector:
  strict: true
  extensions: [".exe", ".com"]
  xrdp_mount_names: [thinclient_drives]
log:
  level: DEBUG
sources:
  - type: file
    path: /var/log/sysmon.evtx
    follow: true
  - type: ebpf
  - type: osquery
    interval: 30s
    table: BPF_process_events
    socket: /var/osquery/osquery.em
store:
  max_events: 1000
  max_bytes: 8388608
  expiry: 1h30m
state:
  dir: /srv/tsclientwatch
input:
  max_record_bytes: 1048576
  max_spool: 8589934592
plugin:
  path: /usr/libexec/tsclientwatch-plugin
  sha256: ` + strings.ToUpper(sum) + `
attribution:
  xrdp_sesman_log: /var/log/xrdp/sesman.log
evidence:
  hash: false
  dir: /var/lib/tsclientwatch/evidence
  max_file_bytes: 8388608
  max_dir_bytes: 268435456
  concurrency: 4
  timeout: 5s
  queue: 64
`},
		{"c.yml", "detector: {strict: true, extensions: [.exe, .com], xrdp_mount_names: [thinclient_drives]}\nlog: {level: debug}\n" +
			"sources: [{type: file, path: /var/log/sysmon.evtx, follow: true}, {type: ebpf}, {type: osquery, interval: 30s, table: bpf_process_events, socket: /var/osquery/osquery.em}]\n" +
			"store: {max_events: 1000, max_bytes: 8388608, expiry: 90m}\nstate: {dir: /srv/tsclientwatch}\ninput: {max_record_bytes: 1048576, max_spool: 8589934592}\nplugin: {path: /usr/libexec/tsclientwatch-plugin, sha256: " + sum + "}\n" +
			"attribution: {xrdp_sesman_log: /var/log/xrdp/sesman.log}\n" +
			"evidence: {hash: no, dir: /var/lib/tsclientwatch/evidence, max_file_bytes: 8388608, max_dir_bytes: 268435456, concurrency: 4, timeout: 5000ms, queue: 64}\n"},
		{"c.toml", `
[detector]
strict = true
extensions = [".exe", ".com"]
xrdp_mount_names = ["thinclient_drives"]
[log]
level = "debug"
[[sources]]
type = "file"
path = "/var/log/sysmon.evtx"
follow = true
[[sources]]
type = "ebpf"
[[sources]]
type = "osquery"
interval = "30s"
table = "bpf_process_events"
socket = "/var/osquery/osquery.em"
[store]
max_events = 1000
max_bytes = 8388608
expiry = "90m"
[state]
dir = "/srv/tsclientwatch"
[input]
max_record_bytes = 1048576
max_spool = 8589934592
[plugin]
path = "/usr/libexec/tsclientwatch-plugin"
sha256 = "` + sum + `"
[attribution]
xrdp_sesman_log = "/var/log/xrdp/sesman.log"
[evidence]
hash = false
dir = "/var/lib/tsclientwatch/evidence"
max_file_bytes = 8388608
max_dir_bytes = 268435456
concurrency = 4
timeout = "5s"
queue = 64
`},
		{"c.json", `{"detector": {"strict": true, "extensions": [".exe", ".com"], "xrdp_mount_names": ["thinclient_drives"]},
"log": {"level": "debug"},
"sources": [{"type": "file", "path": "/var/log/sysmon.evtx", "follow": true}, {"type": "ebpf"}, {"type": "osquery", "Interval": "30s", "table": "bpf_process_events", "socket": "/var/osquery/osquery.em"}],
"store": {"max_events": 1000, "max_bytes": 8388608, "expiry": "90m"},
"state": {"dir": "/srv/tsclientwatch"},
"input": {"max_record_bytes": 1048576, "max_spool": 8589934592},
"plugin": {"path": "/usr/libexec/tsclientwatch-plugin", "sha256": "` + sum + `"},
"attribution": {"xrdp_sesman_log": "/var/log/xrdp/sesman.log"},
"evidence": {"hash": false, "dir": "/var/lib/tsclientwatch/evidence", "max_file_bytes": 8388608, "max_dir_bytes": 268435456, "concurrency": 4, "timeout": "5s", "queue": 64}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, tt.name, tt.text)
			cfg, err := load(t, Options{File: path})
			if err != nil {
				t.Fatal(err)
			}
			want := full
			want.File = path
			if !reflect.DeepEqual(cfg, want) {
				t.Fatalf("got  %+v\nwant %+v", cfg, want)
			}
		})
	}
}

// TestSourcesKey: an absent sources key, an empty list and a list are
// three different things, in every format; the extension runs its default
// only for the first.
func TestSourcesKey(t *testing.T) {
	t.Parallel()
	live := []SourceConfig{{Type: SourceLive}}
	tests := []struct {
		name, file, text string // file "" means no configuration file
		given            bool
		sources          []SourceConfig
	}{
		{"no file", "", "", false, nil},
		{"file without sources key", "c.yaml", "store:\n  expiry: 2h\n", false, nil},
		{"empty file", "c.yaml", "# only comments\n", false, nil},
		{"sources: [] (yaml)", "c.yaml", "sources: []\n", true, nil},
		{"sources = [] (toml)", "c.toml", "sources = []\n", true, nil},
		{`"sources": [] (json)`, "c.json", `{"sources": []}`, true, nil},
		{"sources listed", "c.yaml", "sources: [{type: live}]\n", true, live},
		{"sources listed (toml)", "c.toml", "[[sources]]\ntype = \"live\"\n", true, live},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := Options{DefaultFile: filepath.Join(t.TempDir(), "absent.yaml")}
			if tt.file != "" {
				opts.File = writeFile(t, tt.file, tt.text)
			}
			cfg, err := load(t, opts)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.SourcesGiven != tt.given || !reflect.DeepEqual(cfg.Sources, tt.sources) {
				t.Errorf("SourcesGiven %v, Sources %+v; want %v, %+v", cfg.SourcesGiven, cfg.Sources, tt.given, tt.sources)
			}
			// The rendered configuration keeps the distinction.
			out, err := cfg.YAML()
			if err != nil {
				t.Fatal(err)
			}
			if has := strings.Contains(string(out), "sources:"); has != tt.given {
				t.Errorf("YAML has a sources key: %v, want %v:\n%s", has, tt.given, out)
			}
		})
	}
	if got := DefaultExtensionSources(); !reflect.DeepEqual(got, live) {
		t.Errorf("DefaultExtensionSources() = %+v, want %+v", got, live)
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	t.Parallel()
	none := Default()
	none.SourcesGiven = true // "sources: []" on purpose
	for _, c := range []Config{Default(), none, full} {
		out, err := c.YAML()
		if err != nil {
			t.Fatal(err)
		}
		path := writeFile(t, "round.yaml", string(out))
		got, err := load(t, Options{File: path})
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		got.File = ""
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("round trip changed the configuration:\n%s\ngot  %+v\nwant %+v", out, got, c)
		}
	}
}

// Allowed values as the errors spell them.
const (
	allowBool      = "want true or false"
	allowExts      = `want a non-empty list of file extensions, each a dot and a name, e.g. [".exe", ".scr"]`
	allowExt       = `want a file extension as a string, e.g. ".exe"`
	allowExtValid  = `want a dot and a name, e.g. ".exe"`
	allowMounts    = "want a list of directory names, e.g. [thinclient_drives, .thinclient_drives]"
	allowMount     = `want one path component, e.g. "thinclient_drives"`
	allowLevel     = "want debug, info, warn or error"
	allowSources   = "want a list of entries like {type: file, path: /var/log/x.evtx, follow: true}, type one of file, live, ebpf, fanotify, etw, eventlog or osquery"
	allowSource    = "want an entry with type, path and follow"
	allowType      = "want file, live, ebpf, fanotify, etw, eventlog or osquery"
	allowPath      = "want the path of a log file or directory"
	allowMax       = "want a whole number from 1 to 10000000"
	allowExpiry    = "want a positive duration with a unit, e.g. 90s, 30m or 24h"
	allowPlugin    = "want the path of the plugin binary, or empty to run the rule in process"
	allowSesman    = "want the absolute path of xrdp-sesman's log file, or empty to read only utmp"
	allowSum       = "want the plugin's SHA-256 checksum as 64 hexadecimal digits"
	allowEvDir     = `want an absolute directory path for copies of executed programs, or "" to keep none`
	allowEvMaxDir  = "want a whole number of bytes from 1048576 to 4398046511104, at least evidence.max_file_bytes"
	allowEvTimeout = "want a duration from 100ms to 10m0s with a unit, e.g. 30s"
)

// TestInvalid sets each key, from each place values come from, to values of
// the wrong type, out of range, empty or malformed, and requires the error
// to name the key, show the bad value, and say what is allowed (and, for
// the environment and flags, where it came from).
func TestInvalid(t *testing.T) {
	t.Parallel()
	sum := strings.Repeat("0a", 32)
	dir := t.TempDir()
	tests := []struct {
		name    string
		file    string // file text, "" for none
		ext     string // file extension, default yaml
		env     map[string]string
		args    []string
		key     string // the key the error must name
		value   string // the bad value as the error must show it
		allowed string // what the error must say is allowed
		origin  string // where it came from, when not the file
	}{
		// detector.strict
		{name: "strict word", file: "detector: {strict: maybe}", key: "detector.strict", value: `"maybe" is not a boolean`, allowed: allowBool},
		{name: "strict list", file: "detector: {strict: [true]}", key: "detector.strict", value: "[true]", allowed: allowBool},
		{name: "strict map", file: "detector: {strict: {on: true}}", key: "detector.strict", value: "map[on:true]", allowed: allowBool},
		{name: "strict number", file: "detector: {strict: 2}", key: "detector.strict", value: "2", allowed: allowBool},
		{name: "strict empty string", file: `detector: {strict: ""}`, key: "detector.strict", value: `""`, allowed: allowBool},
		{name: "strict null", file: "detector:\n  strict:\n", key: "detector.strict", value: "(empty)", allowed: allowBool},
		{name: "strict env", env: map[string]string{"TSCLIENTWATCH_DETECTOR_STRICT": "2"}, key: "detector.strict", value: `"2"`, allowed: allowBool, origin: "environment TSCLIENTWATCH_DETECTOR_STRICT"},
		{name: "strict toml string", ext: "toml", file: "[detector]\nstrict = \"sometimes\"\n", key: "detector.strict", value: `"sometimes"`, allowed: allowBool},
		{name: "strict json list", ext: "json", file: `{"detector": {"strict": [1]}}`, key: "detector.strict", value: "[1]", allowed: allowBool},
		// detector.extensions
		{name: "extension without dot", file: "detector: {extensions: [.exe, scr]}", key: "detector.extensions[1]", value: `"scr" is not a file extension`, allowed: allowExtValid},
		{name: "extension empty string", file: `detector: {extensions: [""]}`, key: "detector.extensions[0]", value: `""`, allowed: allowExtValid},
		{name: "extension with path", file: `detector: {extensions: [.ex/e]}`, key: "detector.extensions[0]", value: `".ex/e"`, allowed: allowExtValid},
		{name: "extension not string", file: "detector: {extensions: [.exe, 5]}", key: "detector.extensions[1]", value: "5 is not a string", allowed: allowExt},
		{name: "extension map item", file: "detector: {extensions: [{a: b}]}", key: "detector.extensions[0]", value: "map[a:b]", allowed: allowExt},
		{name: "extensions empty", file: "detector: {extensions: []}", key: "detector.extensions", value: "[] is an empty list", allowed: allowExts},
		{name: "extensions map", file: "detector: {extensions: {a: b}}", key: "detector.extensions", value: "map[a:b] is not a list of strings", allowed: allowExts},
		{name: "extensions bool", file: "detector: {extensions: true}", key: "detector.extensions", value: "true", allowed: allowExts},
		{name: "extensions null", file: "detector:\n  extensions:\n", key: "detector.extensions", value: "(empty)", allowed: allowExts},
		{name: "extension flag", args: []string{"--extensions=.exe,exe"}, key: "detector.extensions[1]", value: `"exe"`, allowed: allowExtValid, origin: "flag --extensions"},
		{name: "extension env", env: map[string]string{"TSCLIENTWATCH_DETECTOR_EXTENSIONS": ".exe, ,.scr"}, key: "detector.extensions[1]", value: `""`, allowed: allowExtValid, origin: "environment TSCLIENTWATCH_DETECTOR_EXTENSIONS"},
		// detector.xrdp_mount_names
		{name: "mount name with slash", env: map[string]string{"TSCLIENTWATCH_DETECTOR_XRDP_MOUNT_NAMES": "a/b"}, key: "detector.xrdp_mount_names[0]", value: `"a/b" is not a directory name`, allowed: allowMount, origin: "environment TSCLIENTWATCH_DETECTOR_XRDP_MOUNT_NAMES"},
		{name: "mount name dot dot", file: "detector: {xrdp_mount_names: [..]}", key: "detector.xrdp_mount_names[0]", value: `".."`, allowed: allowMount},
		{name: "mount names string map", ext: "json", file: `{"detector": {"xrdp_mount_names": {"x": 1}}}`, key: "detector.xrdp_mount_names", value: "map[x:1]", allowed: allowMounts},
		{name: "mount name number", ext: "toml", file: "[detector]\nxrdp_mount_names = [1]\n", key: "detector.xrdp_mount_names[0]", value: "1 is not a string", allowed: "want a directory name as a string"},
		// log.level
		{name: "log level word", file: "log: {level: verbose}", key: "log.level", value: `"verbose" is not a log level`, allowed: allowLevel},
		{name: "log level empty", file: `log: {level: ""}`, key: "log.level", value: `""`, allowed: allowLevel},
		{name: "log level null", file: "log:\n  level:\n", key: "log.level", value: "(empty)", allowed: allowLevel},
		{name: "log level map", file: "log: {level: {a: b}}", key: "log.level", value: "map[a:b] is not a string", allowed: allowLevel},
		{name: "log level number", file: "log: {level: 3}", key: "log.level", value: "3 is not a string (put it in quotes)", allowed: allowLevel},
		{name: "log level flag", args: []string{"--log-level=trace"}, key: "log.level", value: `"trace"`, allowed: allowLevel, origin: "flag --log-level"},
		{name: "log level env blank", env: map[string]string{"TSCLIENTWATCH_LOG_LEVEL": " "}, key: "log.level", value: `" "`, allowed: allowLevel, origin: "environment TSCLIENTWATCH_LOG_LEVEL"},
		// sources
		{name: "sources map", file: "sources: {type: file}", key: "sources", value: "map[type:file] is not a list of sources", allowed: allowSources},
		{name: "sources string", file: "sources: /var/log", key: "sources", value: `"/var/log"`, allowed: allowSources},
		{name: "sources env", env: map[string]string{"TSCLIENTWATCH_SOURCES": "file:/x"}, key: "sources", value: `"file:/x" cannot come from the environment`, allowed: allowSources, origin: "TSCLIENTWATCH_SOURCES"},
		{name: "source not map", file: "sources: [file]", key: "sources[0]", value: `"file" is not a source`, allowed: allowSource},
		{name: "source null", file: "sources:\n  -\n", key: "sources[0]", value: "(empty)", allowed: allowSource},
		{name: "source type typo", file: "sources: [{type: fil, path: x}]", key: "sources[0].type", value: `"fil" is not a source type`, allowed: allowType},
		{name: "source type missing", file: "sources: [{path: x}]", key: "sources[0].type", value: "(empty) is missing", allowed: allowType},
		{name: "source type empty", file: `sources: [{type: "", path: x}]`, key: "sources[0].type", value: `""`, allowed: allowType},
		{name: "source type list", file: "sources: [{type: [file]}]", key: "sources[0].type", value: "[file] is not a string", allowed: allowType},
		{name: "file source without path", file: "sources: [{type: live}, {type: file}]", key: "sources[1].path", value: "(empty) is missing", allowed: allowPath},
		{name: "file source blank path", file: `sources: [{type: file, path: "  "}]`, key: "sources[0].path", value: `"  " is missing`, allowed: allowPath},
		{name: "file source path map", file: "sources: [{type: file, path: {a: b}}]", key: "sources[0].path", value: "map[a:b] is not a string", allowed: allowPath},
		{name: "path on live source", file: "sources: [{type: ebpf, path: /x}]", key: "sources[0].path", value: `"/x" is not allowed for a ebpf source`, allowed: "want no path"},
		{name: "follow not bool", file: "sources: [{type: file, path: /x, follow: often}]", key: "sources[0].follow", value: `"often" is not a boolean`, allowed: allowBool},
		{name: "follow on live source", file: "sources: [{type: live, follow: true}]", key: "sources[0].follow", value: "true is not allowed for a live source", allowed: "want no follow"},
		{name: "duplicate file source", file: "sources: [{type: file, path: /var/log/x.evtx}, {type: live}, {type: file, path: /var/log/../log/x.evtx, follow: true}]",
			key: "sources[2]", value: `{type file, path "/var/log/../log/x.evtx"} duplicates sources[0]`, allowed: "want each source once"},
		{name: "live beside etw", file: "sources: [{type: live}, {type: file, path: /x}, {type: etw}]", key: "sources[2]",
			value: "{type etw} cannot run beside sources[0] {type live}", allowed: "want either live alone or the mechanisms by name"},
		{name: "live beside eventlog", ext: "json", file: `{"sources": [{"type": "eventlog"}, {"type": "live"}]}`, key: "sources[0]",
			value: "{type eventlog} cannot run beside sources[1] {type live}", allowed: "both would report every process start twice"},
		{name: "live beside fanotify", file: "sources: [{type: fanotify}, {type: live}]", key: "sources[0]",
			value: "{type fanotify} cannot run beside sources[1] {type live}", allowed: "want either live alone"},
		{name: "osquery interval too short", file: "sources: [{type: osquery, interval: 100ms}]", key: "sources[0].interval", value: `"100ms" is out of range`, allowed: "want a duration from 1s to 1h0m0s"},
		{name: "osquery interval no unit", file: "sources: [{type: osquery, interval: 10}]", key: "sources[0].interval", value: "10 has no unit", allowed: "osquery sources only"},
		{name: "osquery table typo", file: "sources: [{type: osquery, table: processes}]", key: "sources[0].table", value: `"processes" is not an osquery process table`, allowed: "want auto, process_etw_events, bpf_process_events or process_events"},
		{name: "osquery socket blank", ext: "json", file: `{"sources": [{"type": "osquery", "socket": " "}]}`, key: "sources[0].socket", value: `" " is blank`, allowed: "extension socket"},
		{name: "interval on file source", file: "sources: [{type: file, path: /x, interval: 5s}]", key: "sources[0].interval", value: `"5s" is not allowed for a file source`, allowed: "want no interval"},
		{name: "table on etw source", file: "sources: [{type: etw, table: process_etw_events}]", key: "sources[0].table", value: "is not allowed for a etw source", allowed: "only osquery sources"},
		{name: "duplicate osquery source", file: "sources: [{type: osquery}, {type: osquery, interval: 1m}]", key: "sources[1]", value: "{type osquery} duplicates sources[0]", allowed: "want each source once"},
		{name: "duplicate live source", ext: "toml", file: "[[sources]]\ntype = \"ebpf\"\n[[sources]]\ntype = \"EBPF\"\n", key: "sources[1]", value: "{type ebpf} duplicates sources[0]", allowed: "want each source once"},
		// input.max_record_bytes
		{name: "max_record_bytes too small", file: "input: {max_record_bytes: 100}", key: "input.max_record_bytes", value: "100 is out of range", allowed: "want a whole number of bytes from 4096 to 1073741824"},
		{name: "max_record_bytes word env", env: map[string]string{"TSCLIENTWATCH_INPUT_MAX_RECORD_BYTES": "16M"}, key: "input.max_record_bytes", value: `"16M" is not a whole number`, allowed: "want a whole number of bytes from 4096 to 1073741824", origin: "environment TSCLIENTWATCH_INPUT_MAX_RECORD_BYTES"},
		// input.max_spool
		{name: "max_spool too small", file: "input: {max_spool: 65536}", key: "input.max_spool", value: "65536 is out of range", allowed: "want a whole number of bytes from 1048576 to 68719476736"},
		{name: "max_spool too large env", env: map[string]string{"TSCLIENTWATCH_INPUT_MAX_SPOOL": "68719476737"}, key: "input.max_spool", value: `"68719476737" is out of range`, allowed: "want a whole number of bytes from 1048576 to 68719476736", origin: "environment TSCLIENTWATCH_INPUT_MAX_SPOOL"},
		{name: "max_spool unit", file: "input: {max_spool: 512MiB}", key: "input.max_spool", value: `"512MiB" is not a whole number`, allowed: "want a whole number of bytes from 1048576 to 68719476736"},
		// state.dir
		{name: "state dir relative", file: "state: {dir: var/lib/x}", key: "state.dir", value: `"var/lib/x" is not an absolute path`, allowed: "want an absolute directory path"},
		{name: "state dir blank env", env: map[string]string{"TSCLIENTWATCH_STATE_DIR": "  "}, key: "state.dir", value: `"  " is not an absolute path`, allowed: "want an absolute directory path", origin: "environment TSCLIENTWATCH_STATE_DIR"},
		{name: "state dir number", file: "state: {dir: 5}", key: "state.dir", value: "5 is not a string", allowed: "want an absolute directory path"},
		// store.max_bytes
		{name: "max_bytes too small", file: "store: {max_bytes: 4096}", key: "store.max_bytes", value: "4096 is out of range", allowed: "want a whole number of bytes from 1048576 to 17179869184"},
		{name: "max_bytes too large env", env: map[string]string{"TSCLIENTWATCH_STORE_MAX_BYTES": "17179869185"}, key: "store.max_bytes", value: `"17179869185" is out of range`, allowed: "want a whole number of bytes from 1048576 to 17179869184", origin: "environment TSCLIENTWATCH_STORE_MAX_BYTES"},
		{name: "max_bytes with unit", file: "store: {max_bytes: 64MiB}", key: "store.max_bytes", value: `"64MiB" is not a whole number`, allowed: "want a whole number of bytes"},
		// store.max_events
		{name: "max_events word env", env: map[string]string{"TSCLIENTWATCH_STORE_MAX_EVENTS": "abc"}, key: "store.max_events", value: `"abc" is not a whole number`, allowed: allowMax, origin: "environment TSCLIENTWATCH_STORE_MAX_EVENTS"},
		{name: "max_events zero", file: "store: {max_events: 0}", key: "store.max_events", value: "0 is out of range", allowed: allowMax},
		{name: "max_events negative flag", args: []string{"--max-events=-5"}, key: "store.max_events", value: "-5 is out of range", allowed: allowMax, origin: "flag --max-events"},
		{name: "max_events negative json", ext: "json", file: `{"store": {"max_events": -1}}`, key: "store.max_events", value: "-1 is out of range", allowed: allowMax},
		{name: "max_events too large", file: "store: {max_events: 10000001}", key: "store.max_events", value: "10000001 is out of range", allowed: allowMax},
		{name: "max_events overflow yaml", file: "store: {max_events: 99999999999999999999}", key: "store.max_events", value: "1e+20 is out of range", allowed: allowMax},
		{name: "max_events overflow env", env: map[string]string{"TSCLIENTWATCH_STORE_MAX_EVENTS": "99999999999999999999"}, key: "store.max_events", value: `"99999999999999999999" is out of range`, allowed: allowMax, origin: "environment"},
		{name: "max_events overflow json", ext: "json", file: `{"store": {"max_events": 1e300}}`, key: "store.max_events", value: "1e+300 is out of range", allowed: allowMax},
		{name: "max_events fraction", file: "store: {max_events: 1.5}", key: "store.max_events", value: "1.5 is not a whole number", allowed: allowMax},
		{name: "max_events list", file: "store: {max_events: [1]}", key: "store.max_events", value: "[1] is not a whole number", allowed: allowMax},
		{name: "max_events bool", ext: "toml", file: "[store]\nmax_events = true\n", key: "store.max_events", value: "true is not a whole number", allowed: allowMax},
		{name: "max_events empty string", file: `store: {max_events: ""}`, key: "store.max_events", value: `""`, allowed: allowMax},
		{name: "max_events null", ext: "json", file: `{"store": {"max_events": null}}`, key: "store.max_events", value: "(empty)", allowed: allowMax},
		// store.expiry
		{name: "expiry bare number", file: "store: {expiry: 60}", key: "store.expiry", value: "60 has no unit", allowed: allowExpiry},
		{name: "expiry bare number string", env: map[string]string{"TSCLIENTWATCH_STORE_EXPIRY": "5"}, key: "store.expiry", value: `"5" has no unit`, allowed: allowExpiry, origin: "environment TSCLIENTWATCH_STORE_EXPIRY"},
		{name: "expiry words", file: `store: {expiry: "1 hour"}`, key: "store.expiry", value: `"1 hour" is not a duration`, allowed: allowExpiry},
		{name: "expiry garbage", env: map[string]string{"TSCLIENTWATCH_STORE_EXPIRY": "soon"}, key: "store.expiry", value: `"soon" is not a duration`, allowed: allowExpiry, origin: "environment TSCLIENTWATCH_STORE_EXPIRY"},
		{name: "expiry zero", file: "store: {expiry: 0s}", key: "store.expiry", value: `"0s" is not a positive duration`, allowed: allowExpiry},
		{name: "expiry negative", args: []string{"--expiry=-1h"}, key: "store.expiry", value: `"-1h" is not a positive duration`, allowed: allowExpiry, origin: "flag --expiry"},
		{name: "expiry overflow", file: "store: {expiry: 9999999999h}", key: "store.expiry", value: `"9999999999h" is not a duration`, allowed: allowExpiry},
		{name: "expiry empty", file: `store: {expiry: ""}`, key: "store.expiry", value: `""`, allowed: allowExpiry},
		{name: "expiry list", ext: "json", file: `{"store": {"expiry": ["1h"]}}`, key: "store.expiry", value: "[1h] is not a duration", allowed: allowExpiry},
		{name: "expiry toml time", ext: "toml", file: "[store]\nexpiry = 01:00:00\n", key: "store.expiry", value: "01:00:00 is not a duration", allowed: allowExpiry},
		// plugin.*
		{name: "plugin path list", file: "plugin: {path: [a]}", key: "plugin.path", value: "[a] is not a string", allowed: allowPlugin},
		{name: "plugin path number", file: "plugin: {path: 5}", key: "plugin.path", value: "5 is not a string (put it in quotes)", allowed: allowPlugin},
		{name: "plugin path blank", file: `plugin: {path: "  ", allow_unverified: true}`, key: "plugin.path", value: `"  " is blank`, allowed: allowPlugin},
		{name: "plugin path directory", file: "plugin: {path: " + dir + ", allow_unverified: true}", key: "plugin.path", value: strconv.Quote(dir) + " is a directory", allowed: allowPlugin},
		{name: "plugin path directory env", env: map[string]string{"TSCLIENTWATCH_PLUGIN_PATH": dir, "TSCLIENTWATCH_PLUGIN_ALLOW_UNVERIFIED": "yes"}, key: "plugin.path", value: strconv.Quote(dir) + " is a directory", allowed: allowPlugin, origin: "environment TSCLIENTWATCH_PLUGIN_PATH"},
		{name: "sha256 env", env: map[string]string{"TSCLIENTWATCH_PLUGIN_PATH": "/p", "TSCLIENTWATCH_PLUGIN_SHA256": "xyz"}, key: "plugin.sha256", value: `"xyz" is not a SHA-256 checksum`, allowed: allowSum, origin: "environment TSCLIENTWATCH_PLUGIN_SHA256"},
		{name: "sha256 toml number", ext: "toml", file: "[plugin]\npath = \"/p\"\nsha256 = 12\n", key: "plugin.sha256", value: "12 is not a string", allowed: allowSum},
		{name: "sha256 short", file: "plugin: {path: /p, sha256: abc}", key: "plugin.sha256", value: `"abc" is not a SHA-256 checksum`, allowed: allowSum},
		{name: "sha256 not hex flag", args: []string{"--plugin=/p", "--plugin-sha256=" + strings.Repeat("g", 64)}, key: "plugin.sha256", value: strconv.Quote(strings.Repeat("g", 64)), allowed: allowSum, origin: "flag --plugin-sha256"},
		{name: "sha256 too long", file: "plugin: {path: /p, sha256: " + sum + "00}", key: "plugin.sha256", value: strconv.Quote(sum + "00"), allowed: allowSum},
		{name: "sha256 unquoted digits", file: "plugin: {path: /p, sha256: 1234}", key: "plugin.sha256", value: "1234 is not a string (put it in quotes)", allowed: allowSum},
		{name: "sha256 map", ext: "json", file: `{"plugin": {"sha256": {}}}`, key: "plugin.sha256", value: "map[] is not a string", allowed: allowSum},
		{name: "plugin without checksum", file: "plugin: {path: /p}", key: "plugin.sha256", value: `required when plugin.path is set ("/p"`, allowed: allowSum + ", or set plugin.allow_unverified"},
		{name: "allow_unverified word", file: "plugin: {path: /p, sha256: " + sum + ", allow_unverified: sure}", key: "plugin.allow_unverified", value: `"sure" is not a boolean`, allowed: allowBool},
		{name: "allow_unverified env", env: map[string]string{"TSCLIENTWATCH_PLUGIN_ALLOW_UNVERIFIED": "perhaps"}, key: "plugin.allow_unverified", value: `"perhaps"`, allowed: allowBool, origin: "environment TSCLIENTWATCH_PLUGIN_ALLOW_UNVERIFIED"},
		{name: "allow_unverified null", file: "plugin:\n  allow_unverified:\n", key: "plugin.allow_unverified", value: "(empty)", allowed: allowBool},
		// attribution.xrdp_sesman_log
		{name: "sesman log relative", file: "attribution: {xrdp_sesman_log: xrdp-sesman.log}", key: "attribution.xrdp_sesman_log", value: `"xrdp-sesman.log" is not an absolute path`, allowed: allowSesman},
		{name: "sesman log blank", file: `attribution: {xrdp_sesman_log: "  "}`, key: "attribution.xrdp_sesman_log", value: `"  " is blank`, allowed: allowSesman},
		{name: "sesman log directory env", env: map[string]string{"TSCLIENTWATCH_ATTRIBUTION_XRDP_SESMAN_LOG": dir}, key: "attribution.xrdp_sesman_log", value: strconv.Quote(dir) + " is a directory", allowed: allowSesman, origin: "environment TSCLIENTWATCH_ATTRIBUTION_XRDP_SESMAN_LOG"},
		{name: "sesman log control character", ext: "json", file: `{"attribution": {"xrdp_sesman_log": "/var/log/x\u001b[2J.log"}}`, key: "attribution.xrdp_sesman_log", value: "holds a control character", allowed: allowSesman},
		{name: "sesman log list", file: "attribution: {xrdp_sesman_log: [a]}", key: "attribution.xrdp_sesman_log", value: "[a] is not a string", allowed: allowSesman},
		// Keys and sections.
		// evidence.*
		{name: "evidence hash word", file: "evidence: {hash: sometimes}", key: "evidence.hash", value: `"sometimes" is not a boolean`, allowed: allowBool},
		{name: "evidence dir relative", file: "evidence: {dir: evidence}", key: "evidence.dir", value: `"evidence" is not an absolute path`, allowed: allowEvDir},
		{name: "evidence dir blank env", env: map[string]string{"TSCLIENTWATCH_EVIDENCE_DIR": " "}, key: "evidence.dir", value: `" " is blank`, allowed: allowEvDir, origin: "environment TSCLIENTWATCH_EVIDENCE_DIR"},
		{name: "evidence dir control character", ext: "json", file: `{"evidence": {"dir": "/var/x\u001b[2J"}}`, key: "evidence.dir", value: "holds a control character", allowed: allowEvDir},
		{name: "evidence max file zero", file: "evidence: {max_file_bytes: 0}", key: "evidence.max_file_bytes", value: "0 is out of range", allowed: "want a whole number of bytes from 1 to 68719476736"},
		{name: "evidence max file unit", file: "evidence: {max_file_bytes: 64MiB}", key: "evidence.max_file_bytes", value: `"64MiB" is not a whole number`, allowed: "want a whole number of bytes from 1 to 68719476736"},
		{name: "evidence max dir small", file: "evidence: {max_dir_bytes: 1000}", key: "evidence.max_dir_bytes", value: "1000 is out of range", allowed: allowEvMaxDir},
		{name: "evidence max dir below max file env", env: map[string]string{"TSCLIENTWATCH_EVIDENCE_MAX_DIR_BYTES": "2097152"}, key: "evidence.max_dir_bytes", value: `"2097152" is below evidence.max_file_bytes (67108864, from default)`, allowed: allowEvMaxDir, origin: "environment TSCLIENTWATCH_EVIDENCE_MAX_DIR_BYTES"},
		{name: "evidence concurrency zero", file: "evidence: {concurrency: 0}", key: "evidence.concurrency", value: "0 is out of range", allowed: "want a whole number of reads at once from 1 to 64"},
		{name: "evidence concurrency huge", file: "evidence: {concurrency: 65}", key: "evidence.concurrency", value: "65 is out of range", allowed: "want a whole number of reads at once from 1 to 64"},
		{name: "evidence timeout no unit", file: "evidence: {timeout: 30}", key: "evidence.timeout", allowed: allowEvTimeout},
		{name: "evidence timeout tiny", file: "evidence: {timeout: 1ms}", key: "evidence.timeout", value: `"1ms" is out of range`, allowed: allowEvTimeout},
		{name: "evidence timeout long env", env: map[string]string{"TSCLIENTWATCH_EVIDENCE_TIMEOUT": "1h"}, key: "evidence.timeout", value: `"1h" is out of range`, allowed: allowEvTimeout, origin: "environment TSCLIENTWATCH_EVIDENCE_TIMEOUT"},
		{name: "evidence queue zero", file: "evidence: {queue: 0}", key: "evidence.queue", value: "0 is out of range", allowed: "want a whole number of detections from 1 to 1048576"},
		{name: "evidence queue list", file: "evidence: {queue: [1]}", key: "evidence.queue", value: "[1]", allowed: "want a whole number of detections from 1 to 1048576"},
		{name: "unknown top-level key", file: "stor: {max_events: 5}", key: "unknown configuration key stor", value: "stor", allowed: "known keys: attribution.xrdp_sesman_log, detector.extensions"},
		{name: "unknown nested key", file: "store: {max_event: 5}", key: "unknown configuration key store.max_event", value: "store.max_event", allowed: "store.max_events"},
		{name: "unknown key in source", file: "sources: [{type: file, path: /x, folow: true}]", key: "unknown configuration key sources[0].folow", value: "folow", allowed: "known keys"},
		{name: "unknown scalar in section", file: "log: {level: info, color: true}", key: "unknown configuration key log.color", value: "log.color", allowed: "known keys"},
		{name: "scalar for a section", file: "store: 5", key: "store", value: "5 is not a section", allowed: "want keys below it, e.g. store.expiry"},
		{name: "keys differing in case", file: "store: {max_events: 5, MAX_EVENTS: 6}", key: "store.max_events", value: "key given twice, in different case", allowed: "want each key once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := Options{LookupEnv: env(tt.env), Flags: testFlags(t, tt.args...)}
			if tt.file != "" {
				ext := tt.ext
				if ext == "" {
					ext = "yaml"
				}
				opts.File = writeFile(t, "c."+ext, tt.file)
			}
			_, err := load(t, opts)
			if err == nil {
				t.Fatal("no error")
			}
			origin := tt.origin
			if origin == "" && opts.File != "" {
				origin = opts.File
			}
			for what, w := range map[string]string{"key": tt.key, "value": tt.value, "allowed values": tt.allowed, "origin": origin} {
				if w != "" && !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not give the %s: %q", err, what, w)
				}
			}
		})
	}
}

// TestBadFiles covers configuration files that cannot be read or parsed:
// each error names the file and, where the parser tells, the line.
func TestBadFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	isDir := filepath.Join(dir, "conf.yaml")
	if err := os.Mkdir(isDir, 0o700); err != nil {
		t.Fatal(err)
	}
	big := writeFile(t, "big.yaml", "# "+strings.Repeat("x", MaxFileSize)+"\n")
	tests := []struct {
		name string
		path string // used when text is empty
		file string // file name, written with text
		text string
		want []string
	}{
		{name: "yaml syntax", file: "c.yaml", text: "store:\n  max_events: 5\n bad: [\n", want: []string{"c.yaml: yaml: line 2"}},
		{name: "yaml tab", file: "c.yaml", text: "store:\n\tmax_events: 5\n", want: []string{"c.yaml: yaml: line 2", "tab"}},
		{name: "yaml duplicate key", file: "c.yaml", text: "store: {max_events: 5}\nstore: {expiry: 1h}\n", want: []string{"c.yaml", "line 2", `"store" already defined at line 1`}},
		{name: "yaml list at top", file: "c.yaml", text: "- a\n- b\n", want: []string{"c.yaml", "line 1", "!!seq"}},
		{name: "yaml control chars", file: "c.yaml", text: "\x00\x01garbage", want: []string{"c.yaml", "control characters"}},
		{name: "toml syntax", file: "c.toml", text: "[store]\nmax_events = 5\nexpiry = \n", want: []string{"c.toml:3:", "toml:"}},
		{name: "toml duplicate table", file: "c.toml", text: "[store]\nmax_events = 1\n[store]\nexpiry = \"1h\"\n", want: []string{"c.toml: toml: table store already exists"}}, // go-toml gives no position for this one,
		{name: "toml overflow", file: "c.toml", text: "[store]\nmax_events = 99999999999999999999\n", want: []string{"c.toml:2:", "out of range"}},
		{name: "json trailing comma", file: "c.json", text: "{\"store\": {\n\"max_events\": 5,\n}}", want: []string{"c.json:3:1:", "invalid character '}'"}},
		{name: "json truncated", file: "c.json", text: "{\"store\": {\"max_events\": 5", want: []string{"c.json:1:", "unexpected end of JSON input"}},
		{name: "json array at top", file: "c.json", text: "\n[1, 2]", want: []string{"c.json:2:", "cannot unmarshal array", "want an object of sections"}},
		{name: "json duplicate key", file: "c.json", text: "{\"store\": {\"max_events\": 5},\n \"store\": {\"expiry\": \"1h\"}}", want: []string{"c.json:2:2:", `key "store" appears twice`}},
		{name: "json duplicate key other case", file: "c.json", text: `{"log": {"level": "info", "Level": "debug"}}`, want: []string{"c.json:1:", `key "Level" appears twice`}},
		{name: "json two documents", file: "c.json", text: "{}\n{}", want: []string{"c.json:2:", "invalid character '{' after top-level value"}},
		{name: "utf-16", file: "c.yaml", text: "\xff\xfel\x00o\x00", want: []string{"c.yaml is UTF-16", "want UTF-8"}},
		{name: "not utf-8", file: "c.yaml", text: "log:\n  level: \xe9t\xe9\n", want: []string{"c.yaml:2:10:", "not UTF-8"}},
		{name: "unknown extension", file: "c.ini", text: "x=1", want: []string{"c.ini: unknown configuration format", "want a .yaml"}},
		{name: "directory", path: isDir, want: []string{isDir + " is a directory", "want a .yaml"}},
		{name: "too big", path: big, want: []string{big, "bytes", "want a configuration file of at most 1048576 bytes"}},
		{name: "missing", path: filepath.Join(dir, "missing.yaml"), want: []string{"missing.yaml", "no such file"}},
		{name: "parent is a file", path: filepath.Join(big, "c.yaml"), want: []string{big, "not a directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := tt.path
			if tt.file != "" {
				path = writeFile(t, tt.file, tt.text)
			}
			_, err := load(t, Options{File: path})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tt.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestUnreadableFile needs a user that permissions apply to: root reads
// any file.
func TestUnreadableFile(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root reads files whatever their mode")
	}
	path := writeFile(t, "c.yaml", "log: {level: info}\n")
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	_, err := load(t, Options{File: path})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("err = %v", err)
	}
}

// TestEncodings: a UTF-8 byte order mark (Notepad writes one) is accepted
// in every format.
func TestEncodings(t *testing.T) {
	t.Parallel()
	for name, text := range map[string]string{
		"c.yaml": "log: {level: debug}\n",
		"c.toml": "[log]\nlevel = \"debug\"\n",
		"c.json": `{"log": {"level": "debug"}}`,
	} {
		cfg, err := load(t, Options{File: writeFile(t, name, "\xef\xbb\xbf"+text)})
		if err != nil || cfg.Log.Level != "debug" {
			t.Errorf("%s with a BOM: level %q, %v", name, cfg.Log.Level, err)
		}
	}
}

func TestUnknownExtension(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "c.ini", "x=1")
	_, err := load(t, Options{File: path})
	if err == nil || !strings.Contains(err.Error(), "unknown configuration format") {
		t.Fatalf("err = %v", err)
	}
}

func TestBindFlagErrors(t *testing.T) {
	t.Parallel()
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.Bool("strict", false, "")
	if err := BindFlag(fs, "strict", "detector.strikt"); err == nil {
		t.Error("unknown key accepted")
	}
	if err := BindFlag(fs, "nope", "detector.strict"); err == nil {
		t.Error("unknown flag accepted")
	}
}

func TestEnvName(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]string{
		"detector.strict":           "TSCLIENTWATCH_DETECTOR_STRICT",
		"store.max_events":          "TSCLIENTWATCH_STORE_MAX_EVENTS",
		"detector.xrdp_mount_names": "TSCLIENTWATCH_DETECTOR_XRDP_MOUNT_NAMES",
	} {
		if got := EnvName(key); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", key, got, want)
		}
	}
}

// TestProcessEnvironment checks the default LookupEnv is the process
// environment (not parallel: it sets variables).
func TestProcessEnvironment(t *testing.T) {
	t.Setenv("TSCLIENTWATCH_STORE_MAX_EVENTS", "77")
	cfg, err := Load(Options{DefaultFile: filepath.Join(t.TempDir(), "absent.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.MaxEvents != 77 {
		t.Fatalf("max_events = %d", cfg.Store.MaxEvents)
	}
}

// TestExamples loads the sample files shipped in config/testdata: the three
// formats give one configuration, and the broken ones fail by key.
func TestExamples(t *testing.T) {
	t.Parallel()
	want := Default()
	want.Sources = []SourceConfig{{Type: "file", Path: "/var/log/winlogbeat/winlogbeat.ndjson", Follow: true}, {Type: "live"}}
	want.SourcesGiven = true
	for _, name := range []string{"example.yaml", "example.toml", "example.json"} {
		path := filepath.Join("testdata", name)
		cfg, err := load(t, Options{File: path})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want.File = path
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, cfg, want)
		}
	}
	for name, msg := range map[string]string{
		"invalid.yaml":       `detector.strict: "maybe" is not a boolean`,
		"unknown_key.yaml":   "unknown configuration key store.max_event",
		"syntax_error.toml":  "syntax_error.toml:3:",
		"syntax_error.json":  "syntax_error.json:4:3: json: invalid character '}'",
		"duplicate_key.json": `duplicate_key.json:3:3: json: key "store" appears twice`,
	} {
		_, err := load(t, Options{File: filepath.Join("testdata", name)})
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: err = %v, want %q", name, err, msg)
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	path := filepath.Join("testdata", "example.yaml")
	opts := Options{File: path, LookupEnv: env(map[string]string{"TSCLIENTWATCH_STORE_MAX_EVENTS": "10"})}
	for b.Loop() {
		if _, err := Load(opts); err != nil {
			b.Fatal(err)
		}
	}
}

func TestStateDir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file string
		env        map[string]string
		want       string
	}{
		{"default", "log: {level: info}\n", nil, DefaultStateDir()},
		{"empty keeps memory only", "state: {dir: \"\"}\n", nil, ""},
		{"file", "state: {dir: /srv/x}\n", nil, "/srv/x"},
		{"environment over file", "state: {dir: /srv/x}\n", map[string]string{"TSCLIENTWATCH_STATE_DIR": "/srv/y"}, "/srv/y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := writeFile(t, "c.yaml", tt.file+"\n")
			cfg, err := load(t, Options{File: p, LookupEnv: func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.State.Dir != tt.want {
				t.Errorf("state.dir = %q, want %q", cfg.State.Dir, tt.want)
			}
		})
	}
}
