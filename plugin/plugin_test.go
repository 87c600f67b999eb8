package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// launch starts the real plugin with cfg and closes it with the test.
func launch(t testing.TB, cfg detector.Config) *Client {
	t.Helper()
	c, err := Launch(context.Background(), Options{Path: pluginPath, SHA256: pluginSum, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var (
	t0   = time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.UTC)
	cest = time.FixedZone("", 2*3600)
)

// events covers every path form the rule knows, near misses, and the
// fields that must survive the trip unchanged (times with zones, unknown
// time, large pids, non-ASCII text).
func events() []detector.Event {
	start := func(exe, os string) detector.Event {
		return detector.Event{Time: t0, Type: detector.TypeStart, PID: 4242, ParentPID: 1000, Executable: exe,
			CommandLine: `"` + exe + `" /q`, WorkingDirectory: `C:\Users\bob\`, ParentExecutable: `C:\Windows\explorer.exe`,
			User: `CORP\bob`, Host: "ws01", HostOS: os, Source: "sysmon", SHA256: strings.Repeat("ab", 32)}
	}
	evs := []detector.Event{
		start(`\Device\Mup\tsclient\C\temp\a.exe`, "windows"),
		start(`\Device\Mup\TSCLIENT\c\a.EXE`, "windows"),
		start(`\Device\Mup\tsclient\a.exe`, "windows"),
		start(`\\tsclient\c\temp\stack\a.exe`, "windows"),
		start(`\\?\UNC\tsclient\D\x.exe`, ""),
		start(`\??\UNC\tsclient\e\y.exe`, "windows"),
		start(`\Device\Mup\VBoxSvr\share\a.exe`, "windows"),
		start(`\\tsclientx\c\a.exe`, "windows"),
		start(`C:\Program Files\TSClient\TSClient.exe`, "windows"),
		start(`\Device\Mup\tsclient\c\a.scr`, "windows"),
		start(`\Device\Mup\tsclient\c\a.exe`, "linux"),
		start(`/home/bob/thinclient_drives/home/tools/run.sh`, "linux"),
		start(`/run/user/1000/.thinclient_drives/C:/x`, ""),
		start(`/home/bob/thinclient_drives`, "linux"),
		start(`/usr/bin/true`, "linux"),
		start(`/home/bob/xrdp-client/share/x`, "macos"),
		start("", "windows"),
		start(`\\tsclient\c\dossier été\程序.exe`, "windows"),
	}
	legacy := start(`\Device\Mup\tsclient\c\old.exe`, "windows")
	legacy.Type = detector.TypeStartLegacy
	other := start(`\Device\Mup\tsclient\c\written.exe`, "windows")
	other.Type = detector.TypeOther
	zoned := start(`\\tsclient\c\zoned.exe`, "windows")
	zoned.Time = t0.In(cest)
	untimed := start(`\\tsclient\c\untimed.exe`, "windows")
	untimed.Time = time.Time{}
	untimed.PID = 1<<62 + 7
	epoch := start(`\\tsclient\c\epoch.exe`, "windows")
	epoch.Time = time.Unix(0, 0).UTC()
	// The filesystem type decides the xrdp form: a plain directory of
	// that name is no detection, a FUSE mount is, also when the watcher
	// could not read the whole path. A plugin must see both fields to
	// decide the same.
	plain := start(`/tmp/u/thinclient_drives/C:/flood`, "linux")
	plain.FSType = "ext4"
	fuse := start(`/home/bob/thinclient_drives/C:/…/deep/tool`, "linux")
	fuse.FSType, fuse.PathTruncated = "fuse.xrdp-chansrv", true
	// Evidence fields (filled by a host after detection, so a plugin sees
	// them only when a host re-judges a stored row) cross unchanged.
	evidence := start(`/home/bob/thinclient_drives/C:/tool`, "linux")
	evidence.FSType, evidence.SHA256, evidence.Size = "fuse", strings.Repeat("ab", 32), 1<<40+3
	evidence.EvidencePath = "/var/lib/tsclientwatch/evidence/" + strings.Repeat("ab", 32)
	return append(evs, legacy, other, zoned, untimed, epoch, plain, fuse, evidence)
}

// sameDetections fails unless got and want are the same detections, with
// times compared as instants and zone offsets.
func sameDetections(t testing.TB, got, want []detector.Detection) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d detections, want %d\ngot:  %+v\nwant: %+v", len(got), len(want), got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if !g.Time.Equal(w.Time) || g.Time.IsZero() != w.Time.IsZero() {
			t.Errorf("detection %d: time %v, want %v", i, g.Time, w.Time)
		}
		_, goff := g.Time.Zone()
		_, woff := w.Time.Zone()
		if goff != woff {
			t.Errorf("detection %d: zone offset %d, want %d", i, goff, woff)
		}
		g.Time, w.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("detection %d:\ngot  %+v\nwant %+v", i, g, w)
		}
	}
}

func TestSameDetectionsInAndOutOfProcess(t *testing.T) {
	custom := detector.DefaultConfig()
	custom.Extensions = []string{".exe", ".scr"}
	custom.XrdpMountNames = []string{"thinclient_drives"}
	strict := detector.DefaultConfig()
	strict.Strict = true
	for _, tc := range []struct {
		name string
		cfg  detector.Config
	}{
		{"default", detector.DefaultConfig()},
		{"strict", strict},
		{"custom", custom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := detector.MustNew(tc.cfg)
			c := launch(t, tc.cfg)
			if got, want := c.Info(), m.Info(); got != want {
				t.Errorf("Info() = %+v, want %+v", got, want)
			}
			evs := events()
			want, _ := m.Detect(context.Background(), evs, nil)
			if len(want) == 0 {
				t.Fatal("test events produce no detection")
			}
			// Also prove out is appended to, not replaced.
			prefix := []detector.Detection{{RuleID: "keep"}}
			got, err := c.Detect(context.Background(), evs, prefix)
			if err != nil {
				t.Fatal(err)
			}
			if got[0].RuleID != "keep" {
				t.Fatal("Detect overwrote the existing elements of out")
			}
			sameDetections(t, got[1:], want)
		})
	}
}

func TestEmptyAndSplitBatches(t *testing.T) {
	c, err := Launch(context.Background(), Options{Path: pluginPath, SHA256: pluginSum, Config: detector.DefaultConfig(), MaxBatch: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.Detect(context.Background(), nil, nil)
	if err != nil || len(got) != 0 {
		t.Fatalf("empty batch: %v, %v", got, err)
	}
	var evs []detector.Event
	for range 50 {
		evs = append(evs, events()...)
	}
	want, _ := detector.MustNew(detector.DefaultConfig()).Detect(context.Background(), evs, nil)
	got, err = c.Detect(context.Background(), evs, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameDetections(t, got, want)
}

func TestLaunchRefuses(t *testing.T) {
	dir := t.TempDir()
	copyPlugin := func(name string, mode os.FileMode) string {
		b, err := os.ReadFile(pluginPath)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // not subject to umask
			t.Fatal(err)
		}
		return p
	}
	wrongSum := strings.Repeat("0", 64)
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"wrong checksum", Options{Path: pluginPath, SHA256: wrongSum}, "checksum"},
		{"wrong checksum even if unverified allowed", Options{Path: pluginPath, SHA256: wrongSum, AllowUnverified: true}, "checksum"},
		{"checksum not hex", Options{Path: pluginPath, SHA256: "xyz"}, "not a SHA-256 checksum"},
		{"checksum too short", Options{Path: pluginPath, SHA256: pluginSum[:62]}, "not a SHA-256 checksum"},
		{"no checksum", Options{Path: pluginPath}, "no SHA-256 checksum given"},
		{"no path", Options{SHA256: pluginSum}, "no plugin path"},
		{"missing file", Options{Path: filepath.Join(dir, "nope"), SHA256: pluginSum}, "no such file"},
		{"directory", Options{Path: dir, AllowUnverified: true}, "not a regular file"},
		{"world writable", Options{Path: copyPlugin("w666", 0o666), SHA256: pluginSum}, "writable by group or others"},
		{"group writable", Options{Path: copyPlugin("w775", 0o775), SHA256: pluginSum}, "writable by group or others"},
		{"bad config", Options{Path: pluginPath, SHA256: pluginSum, Config: detector.Config{Extensions: []string{"exe"}}}, "detector.extensions[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if runtime.GOOS == "windows" && strings.Contains(tc.want, "writable") {
				t.Skip("Windows permission bits do not reflect ACLs; only the checksum applies")
			}
			c, err := Launch(context.Background(), tc.opts)
			if err == nil {
				c.Close()
				t.Fatal("Launch succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			if tc.want == "checksum" && !errors.Is(err, ErrChecksum) {
				t.Errorf("error %v does not wrap ErrChecksum", err)
			}
		})
	}
}

func TestAllowUnverified(t *testing.T) {
	c, err := Launch(context.Background(), Options{Path: pluginPath, AllowUnverified: true, Config: detector.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Info().ID; got != detector.RuleID {
		t.Fatalf("rule id %q", got)
	}
}

func TestStdoutGarbageBeforeServe(t *testing.T) {
	_, err := Launch(context.Background(), Options{Path: badPath, SHA256: badSum, Config: detector.DefaultConfig()})
	if err == nil {
		t.Fatal("Launch succeeded")
	}
	for _, want := range []string{badPath, "standard output", "hello from main()"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	t.Log(err)
	if strings.Contains(err.Error(), "Unrecognized remote plugin message") {
		t.Errorf("error %q leaks go-plugin's handshake wording", err)
	}
}

func TestNotAPlugin(t *testing.T) {
	p := filepath.Join(t.TempDir(), "true.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho oops >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Launch(context.Background(), Options{Path: p, AllowUnverified: true, Config: detector.DefaultConfig()})
	if err == nil || !strings.Contains(err.Error(), "exited without completing the go-plugin handshake") {
		t.Fatalf("Launch error = %v", err)
	}
}

func TestPluginLogsReachHost(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c, err := Launch(context.Background(), Options{Path: pluginPath, SHA256: pluginSum, Config: detector.DefaultConfig(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if !strings.Contains(buf.String(), "detector configured") {
		t.Fatalf("plugin log line missing from host log:\n%s", buf.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestMalformedBatch(t *testing.T) {
	c := launch(t, detector.DefaultConfig())
	evs := events()
	evs[3].Type = 9 // not a type the protocol knows
	got, err := c.Detect(context.Background(), evs, nil)
	var pe *detector.PartialError
	if !errors.As(err, &pe) || !equalInts(pe.Unjudged, []int{3}) || !strings.Contains(err.Error(), "event 0: unknown event type 9") {
		t.Fatalf("Detect error = %v", err)
	}
	// Only that event goes without a verdict.
	rest := append(append([]detector.Event{}, evs[:3]...), evs[4:]...)
	want, _ := detector.MustNew(detector.DefaultConfig()).Detect(context.Background(), rest, nil)
	sameDetections(t, got, want)
	// The stream survives a refused batch.
	if _, err := c.Detect(context.Background(), events(), nil); err != nil {
		t.Fatal(err)
	}
	if c.Restarts() != 0 {
		t.Fatalf("a refused batch restarted the plugin %d times", c.Restarts())
	}
}

func TestOversizedEvent(t *testing.T) {
	c := launch(t, detector.DefaultConfig())
	evs := events()
	evs[1].CommandLine = strings.Repeat("x", MaxMessageSize)
	_, err := c.Detect(context.Background(), evs, nil)
	if err == nil || !strings.Contains(err.Error(), "event 1 of the batch") || !strings.Contains(err.Error(), "message limit") {
		t.Fatalf("Detect error = %v", err)
	}
	// Several large events are split over messages instead.
	for i := range evs {
		evs[i].CommandLine = strings.Repeat("y", 2<<20)
	}
	want, _ := detector.MustNew(detector.DefaultConfig()).Detect(context.Background(), evs, nil)
	got, err := c.Detect(context.Background(), evs, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameDetections(t, got, want)
}

func TestCloseLeavesNoProcess(t *testing.T) {
	c := launch(t, detector.DefaultConfig())
	pid := c.pid()
	if pid == 0 || !alive(pid) {
		t.Fatalf("plugin pid %d not running", pid)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Fatalf("plugin %d still running after Close", pid)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Detect(context.Background(), events(), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Detect after Close: %v, want ErrClosed", err)
	}
}

// TestPluginKilledMidStream kills the plugin while batches are in flight
// from several goroutines and checks each batch still gets exactly one,
// correct, answer from the relaunched plugin.
func TestPluginKilledMidStream(t *testing.T) {
	c := launch(t, detector.DefaultConfig())
	m := detector.MustNew(detector.DefaultConfig())
	var batch []detector.Event
	for i := range 40 {
		for _, e := range events() {
			e.PID = int64(i) // make each copy distinct
			batch = append(batch, e)
		}
	}
	want, _ := m.Detect(context.Background(), batch, nil)

	const workers, rounds = 4, 60
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		answered int
		errs     []error
		killed   = make(chan int, 1)
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				got, err := c.Detect(context.Background(), batch, nil)
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("worker %d round %d: %w", w, r, err))
					mu.Unlock()
					return
				}
				sameDetections(t, got, want)
				mu.Lock()
				answered++
				n := answered
				mu.Unlock()
				if n == workers*rounds/4 {
					pid := c.pid()
					if err := kill(pid); err != nil {
						t.Errorf("kill plugin %d: %v", pid, err)
					}
					killed <- pid
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	if answered != workers*rounds {
		t.Fatalf("%d batches answered, want %d", answered, workers*rounds)
	}
	select {
	case pid := <-killed:
		if alive(pid) {
			t.Errorf("killed plugin %d still alive", pid)
		}
	default:
		t.Fatal("the plugin was never killed")
	}
	if c.Restarts() < 1 {
		t.Fatal("no relaunch after the plugin was killed")
	}
	c.mu.Lock()
	resent := c.resent
	c.mu.Unlock()
	t.Logf("%d batches answered across %d relaunch(es); %d batch(es) sent again", answered, c.Restarts(), resent)
}

func TestGivesUpAfterMaxRestarts(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "plugin")
	b, err := os.ReadFile(pluginPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := Launch(context.Background(), Options{Path: p, SHA256: pluginSum, Config: detector.DefaultConfig(), MaxRestarts: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Swap the binary: every relaunch is now refused by the checksum.
	if err := os.WriteFile(p+".new", append(b, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".new", p); err != nil {
		t.Fatal(err)
	}
	if err := kill(c.pid()); err != nil {
		t.Fatal(err)
	}
	_, err = c.Detect(context.Background(), events(), nil)
	if err == nil || !strings.Contains(err.Error(), "gave up after 2 failed relaunches") || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("Detect error = %v", err)
	}
}
