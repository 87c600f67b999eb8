package jsonl_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/jsonl"
)

// benchInput is NDJSON of n Elastic Defend process events of about 1.3 KB,
// one in every positiveEvery executed from \Device\Mup\tsclient.
func benchInput(n, positiveEvery int) []byte {
	var b bytes.Buffer
	for i := range n {
		exe := fmt.Sprintf(`C:\\Program Files\\Vendor%d\\bin\\tool%d.exe`, i%50, i%7)
		if i%positiveEvery == positiveEvery-1 {
			exe = `\\Device\\Mup\\tsclient\\C\\Tools\\a.exe`
		}
		fmt.Fprintf(&b, `{"@timestamp":"2024-03-12T09:%02d:%02d.%07dZ","agent":{"id":"7d5f1c2e-0b7a-4c3e-9d51-2f8a6b4e9c10","type":"endpoint","version":"8.12.2"},`+
			`"data_stream":{"dataset":"endpoint.events.process","namespace":"default","type":"logs"},`+
			`"event":{"action":"start","category":["process"],"created":"2024-03-12T09:41:07.5121934Z","dataset":"endpoint.events.process","id":"NTgx0Yh3t2Wv+QkA++++%06d","kind":"event","module":"endpoint","sequence":%d,"type":["start"]},`+
			`"host":{"hostname":"fin-ws-%03d","id":"0f3c6e2a-8d4b-4b1f-a2c7-5e9d1b7f3a64","name":"fin-ws-%03d","os":{"family":"windows","name":"Windows","platform":"windows","type":"windows","version":"22H2 (10.0.22621.3155)"}},`+
			`"process":{"args":["%s","--flag","value"],"args_count":3,"command_line":"\"%s\" --flag value","entity_id":"N2Q1ZjFjMmUtMGI3YS00YzNlLTlkNTEtMmY4YTZiNGU5YzEwLTc3MjQtMTMzNTUwODU2Njc=",`+
			`"executable":"%s","hash":{"sha256":"7e1c1c62c02e8a8f6fd3e6c1b0c3c4c1f3a9b2d3e4f5a6b7c8d9e0f1a2b3c4d5"},"name":"tool.exe",`+
			`"parent":{"executable":"C:\\Windows\\explorer.exe","name":"explorer.exe","pid":5512},"pid":%d,"working_directory":"C:\\Users\\alice\\"},`+
			`"user":{"domain":"CORP","id":"S-1-5-21-3623811015-3361044348-30300820-1013","name":"alice"}}`+"\n",
			i/60%60, i%60, i, i, i, i%1000, i%1000, exe, exe, exe, 1000+i)
	}
	return b.Bytes()
}

// benchEvents and benchPositiveEvery shape the benchmark input: about 26 MB
// of mostly benign events, two positives.
const (
	benchEvents        = 20000
	benchPositiveEvery = 10000
)

// BenchmarkRead compares, on the same input in one run, the reader with
// the prefilter, the reader decoding every document, and encoding/json
// decoding every document into a struct of the fields the mapping reads.
func BenchmarkRead(b *testing.B) {
	in := benchInput(benchEvents, benchPositiveEvery)
	b.Logf("input: %d events, %d bytes (%.0f bytes/event), 1 positive in %d", benchEvents, len(in), float64(len(in))/benchEvents, benchPositiveEvery)
	wantHits := benchEvents / benchPositiveEvery
	cfg := detector.DefaultConfig()
	m := detector.MustNew(cfg)
	for _, bc := range []struct {
		name string
		opt  jsonl.Options
	}{
		{"prefilter", jsonl.Options{Prefilter: true, Config: cfg}},
		{"full", jsonl.Options{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			hits := 0
			sink := source.Sink{Event: func(e *detector.Event) error {
				if _, ok := m.Match(e); ok {
					hits++
				}
				return nil
			}}
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			cpu0 := cpuSeconds()
			for b.Loop() {
				hits = 0
				st, err := jsonl.ReadWith(context.Background(), bytes.NewReader(in), "bench.ndjson", sink, bc.opt)
				if err != nil || st.Records+st.RecordsSkipped != benchEvents || st.Bad != 0 || hits != wantHits {
					b.Fatalf("err %v, stats %+v, %d hits", err, st, hits)
				}
			}
			reportRates(b, benchEvents, len(in), cpu0)
		})
	}
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		cpu0 := cpuSeconds()
		for b.Loop() {
			dec := json.NewDecoder(bytes.NewReader(in))
			n := 0
			for {
				var d ecsDoc
				if err := dec.Decode(&d); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
				n++
			}
			if n != benchEvents {
				b.Fatalf("%d documents", n)
			}
		}
		reportRates(b, benchEvents, len(in), cpu0)
	})
}

// reportRates adds events per wall-clock second and per CPU second.
func reportRates(b *testing.B, perOp, bytesPerOp int, cpu0 float64) {
	b.ReportMetric(float64(perOp*b.N)/b.Elapsed().Seconds(), "events/s")
	if cpu := cpuSeconds() - cpu0; cpu > 0 && cpu0 > 0 {
		b.ReportMetric(float64(perOp*b.N)/cpu, "events/cpu-s")
		b.ReportMetric(float64(bytesPerOp*b.N)/cpu/1e6, "MB/cpu-s")
	}
}

// ecsDoc is the subset of ECS the mapping reads, for the encoding/json
// baseline.
type ecsDoc struct {
	Timestamp  string `json:"@timestamp"`
	DataStream struct {
		Dataset string `json:"dataset"`
	} `json:"data_stream"`
	Event struct {
		Type     []string `json:"type"`
		Category []string `json:"category"`
		Dataset  string   `json:"dataset"`
		Module   string   `json:"module"`
	} `json:"event"`
	Host struct {
		Name string `json:"name"`
		OS   struct {
			Type string `json:"type"`
		} `json:"os"`
	} `json:"host"`
	Process struct {
		Executable       string   `json:"executable"`
		PID              int64    `json:"pid"`
		CommandLine      string   `json:"command_line"`
		Args             []string `json:"args"`
		WorkingDirectory string   `json:"working_directory"`
		Hash             struct {
			SHA256 string `json:"sha256"`
		} `json:"hash"`
		Parent struct {
			Executable string `json:"executable"`
			PID        int64  `json:"pid"`
		} `json:"parent"`
	} `json:"process"`
	User struct {
		Name   string `json:"name"`
		Domain string `json:"domain"`
	} `json:"user"`
}

// BenchmarkReadFile reads the benchmark input from a file the way scan
// does (an *os.File behind a small bufio.Reader), with the prefilter, to
// include the read system calls.
func BenchmarkReadFile(b *testing.B) {
	in := benchInput(benchEvents, benchPositiveEvery)
	path := filepath.Join(b.TempDir(), "bench.ndjson")
	if err := os.WriteFile(path, in, 0o600); err != nil {
		b.Fatal(err)
	}
	cfg := detector.DefaultConfig()
	sink := source.Sink{Event: func(*detector.Event) error { return nil }}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	cpu0 := cpuSeconds()
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		st, err := jsonl.ReadWith(context.Background(), bufio.NewReaderSize(f, 4096), path, sink, jsonl.Options{Prefilter: true, Config: cfg})
		f.Close()
		if err != nil || st.Records+st.RecordsSkipped != benchEvents {
			b.Fatalf("err %v, stats %+v", err, st)
		}
	}
	reportRates(b, benchEvents, len(in), cpu0)
}
