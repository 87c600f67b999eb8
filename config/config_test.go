package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
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
		{"defaults", "", nil, nil, 50000, time.Hour, false, []string{".exe"}},
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
	},
	Store:  Store{MaxEvents: 1000, Expiry: 90 * time.Minute},
	Plugin: Plugin{Path: "/usr/libexec/tsclientwatch-plugin", SHA256: strings.Repeat("ab", 32)},
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
store:
  max_events: 1000
  expiry: 1h30m
plugin:
  path: /usr/libexec/tsclientwatch-plugin
  sha256: ` + strings.ToUpper(sum) + "\n"},
		{"c.yml", "detector: {strict: true, extensions: [.exe, .com], xrdp_mount_names: [thinclient_drives]}\nlog: {level: debug}\n" +
			"sources: [{type: file, path: /var/log/sysmon.evtx, follow: true}, {type: ebpf}]\n" +
			"store: {max_events: 1000, expiry: 90m}\nplugin: {path: /usr/libexec/tsclientwatch-plugin, sha256: " + sum + "}\n"},
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
[store]
max_events = 1000
expiry = "90m"
[plugin]
path = "/usr/libexec/tsclientwatch-plugin"
sha256 = "` + sum + `"
`},
		{"c.json", `{"detector": {"strict": true, "extensions": [".exe", ".com"], "xrdp_mount_names": ["thinclient_drives"]},
"log": {"level": "debug"},
"sources": [{"type": "file", "path": "/var/log/sysmon.evtx", "follow": true}, {"type": "ebpf"}],
"store": {"max_events": 1000, "expiry": "90m"},
"plugin": {"path": "/usr/libexec/tsclientwatch-plugin", "sha256": "` + sum + `"}}`},
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

func TestYAMLRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{Default(), full} {
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

func TestInvalid(t *testing.T) {
	t.Parallel()
	sum := strings.Repeat("0a", 32)
	tests := []struct {
		name string
		file string // YAML text, "" for none
		env  map[string]string
		args []string
		want []string // every string must appear in the error
	}{
		{"max_events not a number (env)", "", map[string]string{"TSCLIENTWATCH_STORE_MAX_EVENTS": "abc"}, nil,
			[]string{`store.max_events: "abc" is not a whole number`, "TSCLIENTWATCH_STORE_MAX_EVENTS"}},
		{"max_events zero", "store: {max_events: 0}", nil, nil, []string{"store.max_events: 0 is not a positive number"}},
		{"max_events negative flag", "", nil, []string{"--max-events=-5"}, []string{"store.max_events: -5", "flag --max-events"}},
		{"max_events fraction", "store: {max_events: 1.5}", nil, nil, []string{"store.max_events: 1.5 is not a whole number"}},
		{"max_events list", "store: {max_events: [1]}", nil, nil, []string{"store.max_events: [1] is not a whole number"}},
		{"expiry no unit", "store: {expiry: 60}", nil, nil, []string{"store.expiry: 60 is not a duration", "90s"}},
		{"expiry garbage", "", map[string]string{"TSCLIENTWATCH_STORE_EXPIRY": "soon"}, nil, []string{`store.expiry: "soon" is not a duration`}},
		{"expiry zero", "store: {expiry: 0s}", nil, nil, []string{`store.expiry: "0s" is not a positive duration`}},
		{"expiry negative", "", nil, []string{"--expiry=-1h"}, []string{`store.expiry: "-1h" is not a positive duration`, "flag --expiry"}},
		{"strict not bool", "detector: {strict: maybe}", nil, nil, []string{`detector.strict: "maybe" is not true or false`}},
		{"strict env not bool", "", map[string]string{"TSCLIENTWATCH_DETECTOR_STRICT": "2"}, nil, []string{`detector.strict: "2" is not true or false`}},
		{"extension without dot", "detector: {extensions: [.exe, scr]}", nil, nil, []string{`detector.extensions[1]: "scr" is not a file extension`}},
		{"extension not string", "detector: {extensions: [.exe, 5]}", nil, nil, []string{`detector.extensions[1]: 5 is not a string`}},
		{"extensions empty", "detector: {extensions: []}", nil, nil, []string{"detector.extensions: empty list"}},
		{"extensions map", "detector: {extensions: {a: b}}", nil, nil, []string{"detector.extensions:", "is not a list of strings"}},
		{"extension flag", "", nil, []string{"--extensions=.exe,exe"}, []string{`detector.extensions[1]: "exe"`, "flag --extensions"}},
		{"mount name with slash", "", map[string]string{"TSCLIENTWATCH_DETECTOR_XRDP_MOUNT_NAMES": "a/b"}, nil,
			[]string{`detector.xrdp_mount_names[0]: "a/b" is not a directory name`, "TSCLIENTWATCH_DETECTOR_XRDP_MOUNT_NAMES"}},
		{"log level", "log: {level: verbose}", nil, nil, []string{`log.level: "verbose" is not a log level (want debug, info, warn, error)`}},
		{"log level flag", "", nil, []string{"--log-level=trace"}, []string{`log.level: "trace"`, "flag --log-level"}},
		{"sources not list", "sources: {type: file}", nil, nil, []string{"sources:", "is not a list of sources"}},
		{"source not map", "sources: [file]", nil, nil, []string{`sources[0]: "file" is not a source`}},
		{"source type typo", "sources: [{type: fil, path: x}]", nil, nil, []string{`sources[0].type: "fil" is not a source type (want file, live, ebpf, fanotify, etw, eventlog)`}},
		{"source type missing", "sources: [{path: x}]", nil, nil, []string{"sources[0].type: missing"}},
		{"file source without path", "sources: [{type: live}, {type: file}]", nil, nil, []string{"sources[1].path: missing"}},
		{"path on live source", "sources: [{type: ebpf, path: /x}]", nil, nil, []string{`sources[0].path: "/x" is not allowed for a ebpf source`}},
		{"follow not bool", "sources: [{type: file, path: /x, follow: often}]", nil, nil, []string{`sources[0].follow: "often" is not true or false`}},
		{"sha256 short", "plugin: {path: /p, sha256: abc}", nil, nil, []string{`plugin.sha256: "abc" is not a SHA-256 checksum (want 64 hexadecimal digits)`}},
		{"sha256 not hex", "", nil, []string{"--plugin=/p", "--plugin-sha256=" + strings.Repeat("g", 64)}, []string{"plugin.sha256:", "flag --plugin-sha256"}},
		{"sha256 unquoted digits", "plugin: {path: /p, sha256: 1234}", nil, nil, []string{"plugin.sha256: 1234 is not a string (put it in quotes)"}},
		{"plugin without checksum", "plugin: {path: /p}", nil, nil, []string{"plugin.sha256: required when plugin.path is set", "allow_unverified"}},
		{"allow_unverified not bool", "plugin: {path: /p, sha256: " + sum + ", allow_unverified: sure}", nil, nil, []string{`plugin.allow_unverified: "sure" is not true or false`}},
		{"plugin path not string", "plugin: {path: [a]}", nil, nil, []string{"plugin.path: [a] is not a string"}},
		{"unknown top-level key", "stor: {max_events: 5}", nil, nil, []string{"unknown configuration key stor", "store.max_events"}},
		{"unknown nested key", "store: {max_event: 5}", nil, nil, []string{"unknown configuration key store.max_event"}},
		{"map for a scalar", "detector: {strict: {on: true}}", nil, nil, []string{"detector.strict: map[on:true] is not true or false"}},
		{"unknown key in source", "sources: [{type: file, path: /x, folow: true}]", nil, nil, []string{"unknown configuration key sources[0].folow"}},
		{"unknown scalar in section", "log: {level: info, color: true}", nil, nil, []string{"unknown configuration key log.color"}},
		{"scalar for a section", "store: 5", nil, nil, []string{"store: 5 is not a section (want keys below it, e.g. store.expiry)"}},
		{"bad yaml", "store: [", nil, nil, []string{"c.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := Options{LookupEnv: env(tt.env), Flags: testFlags(t, tt.args...)}
			if tt.file != "" {
				opts.File = writeFile(t, "c.yaml", tt.file)
			}
			_, err := load(t, opts)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
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

// TestExamples loads the sample files shipped in testdata/config: the three
// formats give one configuration, and the broken ones fail by key.
func TestExamples(t *testing.T) {
	t.Parallel()
	want := Default()
	want.Sources = []SourceConfig{{Type: "file", Path: "/var/log/winlogbeat/winlogbeat.ndjson", Follow: true}, {Type: "live"}}
	for _, name := range []string{"example.yaml", "example.toml", "example.json"} {
		path := testdir.Testdata(t, "config", name)
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
		"invalid.yaml":     `detector.strict: "maybe" is not true or false`,
		"unknown_key.yaml": "unknown configuration key store.max_event",
	} {
		_, err := load(t, Options{File: testdir.Testdata(t, "config", name)})
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: err = %v, want %q", name, err, msg)
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	path := testdir.Testdata(b, "config", "example.yaml")
	opts := Options{File: path, LookupEnv: env(map[string]string{"TSCLIENTWATCH_STORE_MAX_EVENTS": "10"})}
	for b.Loop() {
		if _, err := Load(opts); err != nil {
			b.Fatal(err)
		}
	}
}
