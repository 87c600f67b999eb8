package ecs_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source/ecs"
	"github.com/valyala/fastjson"
)

// ecsSeeds are single documents touching every field the mapping reads, in
// each spelling, and values of every wrong type.
var ecsSeeds = []string{
	`{"@timestamp":"2024-03-12T09:41:07.5121934Z","event":{"type":["start"],"category":["process"],"dataset":"endpoint.events.process"},"host":{"name":"h","os":{"type":"windows"}},"process":{"pid":7724,"executable":"\\Device\\Mup\\tsclient\\C\\a.exe","command_line":"a.exe -q","args":["a.exe","-q"],"working_directory":"C:\\","hash":{"sha256":"AB12"},"parent":{"pid":5512,"executable":"C:\\Windows\\explorer.exe"}},"user":{"name":"alice","domain":"CORP"}}`,
	`{"event.type":"start","host.os.type":"linux","process.executable":"/home/u/thinclient_drives/C:/a.sh","process.pid":"0x1f","process.parent.pid":["9"],"process.args":["/bin/sh","two words",""]}`,
	`{"event":{"type":"process_started"},"process":{"ppid":3,"user":{"name":"CORP\\bob"}},"agent":{"type":"endgame"},"process.start":1700000000000}`,
	`{"winlog":{"channel":"Microsoft-Windows-Sysmon/Operational","event_id":1,"event_data":{"Image":"\\\\tsclient\\c\\a.exe","ProcessId":"12","Hashes":"SHA256=AB","UtcTime":"2024-03-12 09:41:07.512"}}}`,
	`{"winlog":{"channel":"Security","event_id":"4688","event_data":{"NewProcessName":"\\Device\\Mup\\tsclient\\C\\b.exe","NewProcessId":"0x1d7c","SubjectUserName":"u","SubjectDomainName":"D"}}}`,
	`{"process":{"pid":{"a":1}}}`,
	`{"process":{"executable":["a","b"]}}`,
	`{"event":{"type":[1]}}`,
	`{"@timestamp":"yesterday"}`,
	`{"@timestamp":1.5e300}`,
	`{"process":{"pid":1e30}}`,
	`{"winlog":{"event_id":1,"channel":"Microsoft-Windows-Sysmon/Operational","event_data":[1]}}`,
	`{"host":{"os":{"family":"Debian","platform":"ubuntu"}},"data_stream":{"dataset":"m365_defender.event"},"process":{"executable":"C:\\x.exe"}}`,
	`[1]`,
	`"x"`,
	`{}`,
}

// FuzzECSMap maps one parsed document and checks that the mapping never
// panics, gives the same result whatever document the Mapper saw before
// (its interning must not leak between documents), and returns strings
// that do not alias the parser's memory, which the next document reuses.
func FuzzECSMap(f *testing.F) {
	for _, s := range ecsSeeds {
		f.Add([]byte(s))
	}
	dirs := []string{testdir.Testdata(f, "ecs")}
	if ecs, ok := testdir.SharedOptional(f, testdir.ECS); ok {
		dirs = append(dirs, ecs)
	}
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			for line := range bytes.Lines(b) {
				if bytes.HasPrefix(line, []byte("{")) {
					f.Add(bytes.TrimSpace(line))
				}
			}
			f.Add(b)
		}
	}
	other := []byte(ecsSeeds[0])
	f.Fuzz(func(t *testing.T, doc []byte) {
		var p fastjson.Parser
		v, err := p.ParseBytes(doc)
		if err != nil {
			return
		}
		var fresh ecs.Mapper
		var got detector.Event
		gotErr := fresh.Map(v, &got)
		keep := clone(got)

		// The same document through a Mapper that mapped another one
		// first, and the other one again after it.
		var used ecs.Mapper
		var q fastjson.Parser
		ov, _ := q.ParseBytes(other)
		var scratch detector.Event
		_ = used.Map(ov, &scratch)
		var again detector.Event
		againErr := used.Map(v, &again)
		if errString(gotErr) != errString(againErr) || gotErr == nil && again != got {
			t.Fatalf("reused Mapper: %+v, %v\nfresh Mapper: %+v, %v", again, againErr, got, gotErr)
		}

		// Overwrite the parser's memory with another document.
		junk := bytes.Repeat([]byte{'z'}, len(doc))
		copy(junk, `{"a":"`)
		if len(junk) > 8 {
			copy(junk[len(junk)-2:], `"}`)
			_, _ = p.ParseBytes(junk)
		}
		if gotErr == nil && got != keep {
			t.Fatalf("event changed after the parser was reused:\n now %+v\nwas %+v", got, keep)
		}
		if gotErr != nil && !strings.Contains(gotErr.Error(), ": ") && gotErr.Error() != ecs.ErrNotObject.Error() {
			// Errors name the field ("process.pid: ...").
			t.Fatalf("error does not name a field: %v", gotErr)
		}
	})
}

// clone copies every string of e into new memory.
func clone(e detector.Event) detector.Event {
	for _, s := range []*string{&e.Executable, &e.CommandLine, &e.WorkingDirectory, &e.ParentExecutable, &e.User, &e.Host, &e.HostOS, &e.Source, &e.SHA256} {
		*s = strings.Clone(*s)
	}
	return e
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
