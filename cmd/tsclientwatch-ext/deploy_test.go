package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/extension"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/sqlquery"
	"github.com/tsclientwatch/tsclientwatch/store"
)

// deploySQL runs query over the extension's tables through the embedded
// SQLite path, with one detection from just now in the store (or none).
func deploySQL(t *testing.T, query string, withDetection bool) int {
	t.Helper()
	st := store.New(store.Options{})
	if withDetection {
		var d detector.Detection
		d.Time = time.Now()
		d.Type = detector.TypeStart
		d.PID = 4242
		d.Executable = `\Device\Mup\tsclient\c\tools\a.exe`
		d.Form = detector.FormKernel
		d.ClientDrive = "c"
		d.SharePath = `\tools\a.exe`
		st.Add(d)
	}
	db, err := sqlquery.Open(context.Background(), extension.Tables(st, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, rows, err := db.Query(context.Background(), query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return len(rows)
}

func TestDeployPack(t *testing.T) {
	path := filepath.Join(testdir.Root(t), "deploy", "osquery", "tsclientwatch.pack.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pack struct {
		Queries map[string]struct {
			Query    string `json:"query"`
			Interval int    `json:"interval"`
			Removed  *bool  `json:"removed"`
		} `json:"queries"`
	}
	if err := json.Unmarshal(b, &pack); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	q, ok := pack.Queries["tsclient_executions"]
	if !ok || q.Removed == nil || *q.Removed || q.Interval <= 0 || !strings.Contains(q.Query, "time >") {
		t.Fatalf("%s: tsclient_executions query must have removed: false, an interval and a time window: %+v", path, q)
	}
	if n := deploySQL(t, q.Query, true); n != 1 {
		t.Errorf("pack query returned %d rows for one recent detection, want 1", n)
	}
	for name, q := range pack.Queries {
		deploySQL(t, q.Query, false) // every query is valid SQL over the tables
		if q.Removed == nil || *q.Removed {
			t.Errorf("%s: query %s should set removed: false", path, name)
		}
	}
}

func TestDeployFleet(t *testing.T) {
	type spec struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Spec       struct {
			Name     string `yaml:"name"`
			Query    string `yaml:"query"`
			Logging  string `yaml:"logging"`
			Platform string `yaml:"platform"`
		} `yaml:"spec"`
	}
	read := func(name string) spec {
		path := filepath.Join(testdir.Root(t), "deploy", "fleet", name)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var s spec
		if err := yaml.Unmarshal(b, &s); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if s.APIVersion != "v1" || s.Spec.Name == "" || s.Spec.Query == "" {
			t.Fatalf("%s: %+v", path, s)
		}
		return s
	}
	q := read("tsclient-executions.query.yml")
	if q.Kind != "query" || q.Spec.Logging != "differential_ignore_removals" {
		t.Errorf("query: kind %q logging %q", q.Kind, q.Spec.Logging)
	}
	if n := deploySQL(t, q.Spec.Query, true); n != 1 {
		t.Errorf("fleet query: %d rows, want 1", n)
	}
	p := read("tsclient-executions.policy.yml")
	if p.Kind != "policy" {
		t.Errorf("policy kind %q", p.Kind)
	}
	// A policy passes when its query returns rows.
	if n := deploySQL(t, p.Spec.Query, false); n != 1 {
		t.Errorf("policy on a clean host: %d rows, want 1 (pass)", n)
	}
	if n := deploySQL(t, p.Spec.Query, true); n != 0 {
		t.Errorf("policy after a detection: %d rows, want 0 (fail)", n)
	}
}

func TestDeployConfig(t *testing.T) {
	path := filepath.Join(testdir.Root(t), "deploy", "config.yaml")
	cfg, err := config.Load(config.Options{File: path, LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(cfg.Sources) != 2 || cfg.Store.MaxEvents != 50000 || cfg.Store.Expiry != config.DefaultExpiry {
		t.Errorf("%s loaded as %+v", path, cfg)
	}
}

// Time windows as the shipped SQL and texts write them.
var (
	// strftime('%s','now') - 86400
	sqlWindow = regexp.MustCompile(`strftime\(\s*'%s'\s*,\s*'now'\s*\)\s*-\s*(\d+)`)
	// a comparison on the time column, whatever its right-hand side
	timeCompare = regexp.MustCompile(`(?i)\btime\s*(>=|>)\s*([^;\n"]*)`)
	// "(24 h)", "last 24 hours", "last hour"
	textWindow = regexp.MustCompile(`(?i)(?:\blast\s+(\d+)\s*hours?\b|\((\d+)\s*h\)|\blast\s+(hour|day)\b)`)
	// "interval": 300 (JSON) or interval: 300 (YAML)
	intervalField = regexp.MustCompile(`"?interval"?\s*:\s*(\d+)`)
)

// TestDeployWindowsWithinExpiry reads every file in deploy/ and fails if any
// time window there (a SQL look-back, a scheduled interval, or a window its
// names and descriptions promise) is longer than the default store.expiry:
// the store would have dropped rows the query or policy counts on (the
// policy would pass again while an execution is still inside its window).
func TestDeployWindowsWithinExpiry(t *testing.T) {
	if config.DefaultExpiry != store.DefaultExpiry {
		t.Fatalf("config.DefaultExpiry %v and store.DefaultExpiry %v differ", config.DefaultExpiry, store.DefaultExpiry)
	}
	root := filepath.Join(testdir.Root(t), "deploy")
	files, windows := 0, 0
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		text := string(b)
		rel, _ := filepath.Rel(root, path)
		check := func(what string, d time.Duration) {
			windows++
			if d > config.DefaultExpiry {
				t.Errorf("deploy/%s: %s is %v, longer than the default store.expiry %v: rows expire before it ends", rel, what, d, config.DefaultExpiry)
			}
		}
		for _, m := range sqlWindow.FindAllStringSubmatch(text, -1) {
			n, _ := strconv.Atoi(m[1])
			check("the SQL window "+strings.TrimSpace(m[0]), time.Duration(n)*time.Second)
		}
		// Every time comparison must be one this test can read, so a
		// window written another way cannot slip past it.
		for _, m := range timeCompare.FindAllStringSubmatch(text, -1) {
			if !sqlWindow.MatchString(m[2]) {
				t.Errorf("deploy/%s: cannot read the time window in %q; write it as time > (strftime('%%s','now') - SECONDS)", rel, m[0])
			}
		}
		for _, m := range textWindow.FindAllStringSubmatch(text, -1) {
			d := time.Hour
			switch {
			case m[1] != "":
				n, _ := strconv.Atoi(m[1])
				d = time.Duration(n) * time.Hour
			case m[2] != "":
				n, _ := strconv.Atoi(m[2])
				d = time.Duration(n) * time.Hour
			case strings.EqualFold(m[3], "day"):
				d = 24 * time.Hour
			}
			check("the window "+strconv.Quote(m[0]), d)
		}
		if strings.Contains(text, "tsclient_executions") {
			// A scheduled query that runs less often than rows live
			// misses those that expired in between.
			for _, m := range intervalField.FindAllStringSubmatch(text, -1) {
				n, _ := strconv.Atoi(m[1])
				check("the schedule "+m[0], time.Duration(n)*time.Second)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The pack's and the Fleet query's windows, the policy's 24 hours and
	// the words that promise them must all have been seen.
	if files < 6 || windows < 6 {
		t.Fatalf("read %d files and %d windows in deploy/; expected the pack, the Fleet query and policy", files, windows)
	}
	t.Logf("%d files, %d windows, all within %v", files, windows, config.DefaultExpiry)
}

// TestWindowPatterns: the patterns read the spellings deploy/ uses, and a
// window longer than the expiry would be caught.
func TestWindowPatterns(t *testing.T) {
	for _, tt := range []struct {
		text string
		re   *regexp.Regexp
		want string
	}{
		{"WHERE time > (strftime('%s','now') - 86400)", sqlWindow, "86400"},
		{"time > (strftime( '%s', 'now' ) - 172800);", sqlWindow, "172800"},
		{"in the last 48 hours", textWindow, "48"},
		{"No execution (24 h)", textWindow, "24"},
		{`"interval": 300,`, intervalField, "300"},
		{"interval: 90000", intervalField, "90000"},
	} {
		m := tt.re.FindStringSubmatch(tt.text)
		if m == nil || !slices.Contains(m[1:], tt.want) {
			t.Errorf("%q: %q, want a match with %q", tt.text, m, tt.want)
		}
	}
	if m := timeCompare.FindStringSubmatch("WHERE time > 1700000000"); m == nil || sqlWindow.MatchString(m[2]) {
		t.Errorf("a fixed time bound should be reported as unreadable: %q", m)
	}
}

// TestDeployFleetExtensions: agent-options.yml has one extensions key per
// platform fleetd knows (a key serves exactly one platform), and the
// fleetctl commands it shows publish each key with a file whose suffix orbit
// looks for (.ext.exe on Windows, .ext elsewhere) from the release's
// dist/fleet/ names.
func TestDeployFleetExtensions(t *testing.T) {
	path := filepath.Join(testdir.Root(t), "deploy", "fleet", "agent-options.yml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Spec struct {
			Team struct {
				AgentOptions struct {
					Extensions map[string]struct {
						Channel  string `yaml:"channel"`
						Platform string `yaml:"platform"`
					} `yaml:"extensions"`
				} `yaml:"agent_options"`
			} `yaml:"team"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	// The platforms fleetd's FilterByHostPlatform assigns hosts to.
	platforms := map[string]string{
		"linux": "tsclientwatch_linux.ext", "linux-arm64": "tsclientwatch_linux_arm64.ext", "macos": "tsclientwatch_macos.ext",
		"windows": "tsclientwatch_windows.ext.exe", "windows-arm64": "tsclientwatch_windows_arm64.ext.exe",
	}
	seen := map[string]string{}
	for key, ext := range doc.Spec.Team.AgentOptions.Extensions {
		file, ok := platforms[ext.Platform]
		if !ok || ext.Channel == "" {
			t.Errorf("%s: extension %s: platform %q channel %q; want a channel and one of linux, linux-arm64, macos, windows, windows-arm64", path, key, ext.Platform, ext.Channel)
			continue
		}
		if other, dup := seen[ext.Platform]; dup {
			t.Errorf("%s: %s and %s both serve platform %s", path, key, other, ext.Platform)
		}
		seen[ext.Platform] = key
		// The comment's publishing command for this key.
		cmd := regexp.MustCompile(`fleetctl updates add .*--target (\S+)\s+--name extensions/` + regexp.QuoteMeta(key) + `\s+--platform (\S+)`).FindStringSubmatch(string(b))
		if cmd == nil {
			t.Errorf("%s: no fleetctl updates add command for extensions/%s", path, key)
			continue
		}
		if cmd[2] != ext.Platform || filepath.Base(cmd[1]) != file {
			t.Errorf("%s: extensions/%s is published as %s for %s; want dist/fleet/%s for %s", path, key, cmd[1], cmd[2], file, ext.Platform)
		}
		if strings.HasPrefix(ext.Platform, "windows") != strings.HasSuffix(file, ".ext.exe") {
			t.Errorf("%s: %s: Windows targets must end in .ext.exe, others in .ext", path, file)
		}
	}
	if len(seen) != len(platforms) {
		t.Errorf("%s: platforms covered %v, want all of %v", path, seen, platforms)
	}
}

// TestPackagedConfig: the configuration the deb and rpm install at
// /etc/tsclientwatch/config.yaml (and the archives ship as
// config.yaml.example) loads, changes nothing, and has no sources key, so
// the extension runs its default live watcher.
func TestPackagedConfig(t *testing.T) {
	path := filepath.Join(testdir.Root(t), "packaging", "config.yaml")
	cfg, err := config.Load(config.Options{File: path, LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	want := config.Default()
	want.File = path
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("%s loads as %+v, want the defaults %+v", path, cfg, want)
	}
	if cfg.SourcesGiven {
		t.Errorf("%s sets sources: the extension's live default would not apply", path)
	}
}
