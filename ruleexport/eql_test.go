package ruleexport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/ruleexport"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/ecs"
	"github.com/tsclientwatch/tsclientwatch/source/jsonl"
)

// eqlStrict restates Elastic's query over a raw ECS document, from EQL's
// documented semantics: "process where" is event.category == "process";
// == compares case-sensitively; ":" is a case-insensitive wildcard match
// (ASCII letters, as Elasticsearch's case-insensitive automata build them);
// a field holding a list matches when any value does.
func eqlStrict(doc map[string]any) bool {
	return anyValue(doc, "event.category", func(s string) bool { return s == "process" }) &&
		anyValue(doc, "host.os.type", func(s string) bool { return s == "windows" }) &&
		anyValue(doc, "event.type", func(s string) bool { return s == "start" }) &&
		anyValue(doc, "process.executable", func(s string) bool {
			ls := asciiLower(s)
			return len(ls) >= len(`\device\mup\tsclient\.exe`) && strings.HasPrefix(ls, `\device\mup\tsclient\`) && strings.HasSuffix(ls, ".exe")
		})
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// anyValue reports whether field, spelled nested, dotted or mixed as
// Elasticsearch reads it, holds a string value for which f is true.
func anyValue(doc map[string]any, field string, f func(string) bool) bool {
	for _, v := range lookupField(doc, strings.Split(field, ".")) {
		switch x := v.(type) {
		case string:
			if f(x) {
				return true
			}
		case []any:
			for _, e := range x {
				if s, ok := e.(string); ok && f(s) {
					return true
				}
			}
		}
	}
	return false
}

func lookupField(m map[string]any, parts []string) []any {
	var out []any
	for i := 1; i <= len(parts); i++ {
		v, ok := m[strings.Join(parts[:i], ".")]
		if !ok {
			continue
		}
		if i == len(parts) {
			out = append(out, v)
		} else if sub, ok := v.(map[string]any); ok {
			out = append(out, lookupField(sub, parts[i:])...)
		}
	}
	return out
}

func TestEQLStrictIsElasticQuery(t *testing.T) {
	f := ruleexport.EQLQuery(definition(t, "strict"))
	lines := strings.Split(strings.TrimSpace(f.Content), "\n")
	if q := lines[len(lines)-1]; q != detector.ElasticQuery {
		t.Fatalf("strict EQL\n%s\nis not Elastic's query\n%s", q, detector.ElasticQuery)
	}
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, "//") {
			t.Fatalf("header line %q is not a comment", l)
		}
	}
	if !strings.Contains(f.Content, detector.RuleID) {
		t.Error("header does not name the rule id")
	}
}

// TestEQLStrictOnECS compares the restated query with strict mode on every
// ECS document in testdata/ and on generated documents that vary host.os.type,
// event.type, event.category and the path.
func TestEQLStrictOnECS(t *testing.T) {
	m := detector.MustNew(configs["strict"])
	check := func(where string, doc map[string]any, ev detector.Event) bool {
		_, got := m.Match(&ev)
		if want := eqlStrict(doc); got != want {
			b, _ := json.Marshal(doc)
			t.Errorf("%s: strict mode %v, EQL %v on %s", where, got, want, b)
		}
		return got
	}

	hits := 0
	files, _ := filepath.Glob(testdir.Testdata(t, "ecs", "*"))
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		docs := ecsDocuments(t, raw)
		var evs []detector.Event
		_, err = jsonl.ReadWith(context.Background(), bytes.NewReader(raw), name, source.Sink{
			Event: func(e *detector.Event) error { evs = append(evs, *e); return nil },
		}, jsonl.Options{})
		if err != nil || len(evs) != len(docs) {
			t.Fatalf("%s: %d events (%v) for %d documents", name, len(evs), err, len(docs))
		}
		for i := range docs {
			if check(filepath.Base(name), docs[i], evs[i]) {
				hits++
			}
		}
	}
	if hits == 0 {
		t.Fatal("no strict detection among the testdata documents")
	}

	var mp ecs.Mapper
	var parser fastjson.Parser
	paths := windowsPaths(definition(t, "default"))
	variants := []struct{ host, typ, cat any }{
		{"windows", []any{"start"}, []any{"process"}},
		{nil, []any{"start"}, []any{"process"}},
		{"Windows", []any{"start"}, []any{"process"}},
		{[]any{"windows"}, "start", "process"},
		{"linux", []any{"start"}, []any{"process"}},
		{"windows", []any{"start", "process_start"}, []any{"process"}},
		{"windows", "Start", []any{"process"}},
		{"windows", "process_started", []any{"process"}},
		{"windows", nil, []any{"process"}},
		{"windows", []any{"start"}, nil},
		{"windows", []any{"start"}, "Process"},
		{"windows", []any{"start"}, []any{"network"}},
	}
	for i, v := range variants {
		for j, p := range paths {
			if i > 0 && j%7 != 0 { // every path once, a sample for the other variants
				continue
			}
			doc := map[string]any{"process": map[string]any{"executable": p, "pid": 1}}
			ev, host := map[string]any{}, map[string]any{"name": "h", "os": map[string]any{"family": "windows"}}
			if v.typ != nil {
				ev["type"] = v.typ
			}
			if v.cat != nil {
				ev["category"] = v.cat
			}
			if v.host != nil {
				host["os"].(map[string]any)["type"] = v.host
			}
			doc["event"], doc["host"] = ev, host
			b, _ := json.Marshal(doc)
			val, err := parser.ParseBytes(b)
			if err != nil {
				t.Fatal(err)
			}
			var e detector.Event
			if err := mp.Map(val, &e); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			check("generated", doc, e)
		}
	}
}

// ecsDocuments splits a testdata ECS file into its documents the way the
// reader does: NDJSON lines, arrays, Elasticsearch hits (_source, or fields
// when a hit has no _source) and search responses.
func ecsDocuments(t *testing.T, raw []byte) []map[string]any {
	t.Helper()
	var vals []any
	dec := json.NewDecoder(bytes.NewReader(raw))
	for dec.More() {
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		vals = append(vals, v)
	}
	var out []map[string]any
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			if h, ok := x["hits"].(map[string]any); ok {
				walk(h["hits"])
				return
			}
			if s, ok := x["_source"].(map[string]any); ok {
				out = append(out, s)
				return
			}
			if f, ok := x["fields"].(map[string]any); ok {
				out = append(out, f)
				return
			}
			out = append(out, x)
		}
	}
	for _, v := range vals {
		walk(v)
	}
	return out
}
