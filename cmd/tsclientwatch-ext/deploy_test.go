package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
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
	if len(cfg.Sources) != 2 || cfg.Store.MaxEvents != 50000 || cfg.Store.Expiry != time.Hour {
		t.Errorf("%s loaded as %+v", path, cfg)
	}
}
