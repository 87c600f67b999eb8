//go:build unix

package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source"
)

// hangLimit only turns a hang into a failure with a message instead of the
// test binary's timeout; nothing here should take more than milliseconds.
const hangLimit = 30 * time.Second

const shadowLine = "root:*:20228:0:99999:7:::\n"

const goodEvent = `{"process":{"executable":"\\\\tsclient\\c\\x.exe"},"event":{"type":["start"]}}` + "\n"

// readWithin runs ReadPaths on another goroutine. If it has not returned
// within hangLimit, release (which should unblock it) is called and the test
// fails: the walk hung.
func readWithin(t *testing.T, ctx context.Context, paths []string, release func()) *result {
	t.Helper()
	res := &result{counters: new(Counters)}
	opts := Options{
		Sink: source.Sink{
			Event: func(ev *detector.Event) error { res.events = append(res.events, *ev); return nil },
			Bad:   func(re *source.RecordError) { res.bad = append(res.bad, re) },
		},
		Error:    func(e *InputError) { res.inputErr = append(res.inputErr, e) },
		Counters: res.counters,
		TempDir:  t.TempDir(),
	}
	done := make(chan error, 1)
	go func() { done <- ReadPaths(ctx, paths, opts) }()
	select {
	case res.err = <-done:
		return res
	case <-time.After(hangLimit):
		release()
		<-done
		t.Fatalf("ReadPaths(%q) hung (released after %v)", paths, hangLimit)
		return nil
	}
}

// releaseFIFO opens the FIFO's write end and closes it, which lets a
// reader blocked in open(2) go on (and then see end of file).
func releaseFIFO(path string) func() {
	return func() {
		if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			f.Close()
		}
	}
}

func errorsText(res *result) string {
	var b strings.Builder
	for _, e := range res.inputErr {
		b.WriteString(e.Error())
		b.WriteString("\n")
	}
	return b.String()
}

// TestWalkStaysInsideRoot: review H1. Links in a walked directory are
// followed only to regular files inside it. Links out of it, by absolute
// path, by "..", or through a second link, are reported by name and not
// opened, and nothing of the outside file reaches an error.
func TestWalkStaysInsideRoot(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	secret := write(t, outside, "shadow", []byte(shadowLine))
	dir := t.TempDir()
	write(t, dir, "sub/real.json", []byte(goodEvent))
	links := map[string]string{
		"leak.log":       secret,                                                // absolute, out
		"dotdot.log":     filepath.Join("..", filepath.Base(outside), "shadow"), // relative, out
		"sub/deep.log":   filepath.Join("..", "..", filepath.Base(outside), "shadow"),
		"hop.log":        "inner",                                 // inside, to a link out
		"inner":          secret,                                  //
		"ok.json":        filepath.Join("sub", "real.json"),       // relative, in
		"abs.json":       filepath.Join(dir, "sub", "real.json"),  // absolute, in
		"sub/up.json":    filepath.Join("..", "sub", "real.json"), // climbs, stays in
		"sub/broken.log": "nothing-here",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	res := readWithin(t, context.Background(), []string{dir}, func() {})
	if res.err != nil {
		t.Fatal(res.err)
	}
	msgs := errorsText(res)
	if strings.Contains(msgs, "root:") || strings.Contains(msgs, "99999") {
		t.Errorf("errors quote the file outside the walked directory:\n%s", msgs)
	}
	for _, name := range []string{"leak.log", "dotdot.log", "sub/deep.log", "hop.log", "inner"} {
		if !strings.Contains(msgs, filepath.Join(dir, name)+": symbolic link that leads out of "+dir) {
			t.Errorf("%s not reported as leading out:\n%s", name, msgs)
		}
	}
	if !strings.Contains(msgs, filepath.Join(dir, "sub/broken.log")+": broken symbolic link") {
		t.Errorf("broken link not reported:\n%s", msgs)
	}
	if len(res.inputErr) != 6 {
		t.Errorf("%d input errors, want 6:\n%s", len(res.inputErr), msgs)
	}
	// real.json, and the three links that lead to it.
	if len(res.events) != 4 {
		t.Errorf("%d events, want 4", len(res.events))
	}
}

// TestWalkNeverBlocksOnFIFO: review H1. A link to a FIFO, inside or outside
// the walked directory, is reported, not opened: opening a FIFO waits for a
// writer, inside open(2), where SIGTERM cannot reach the scan.
func TestWalkNeverBlocksOnFIFO(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	dir := t.TempDir()
	fifoOut := filepath.Join(outside, "fifo")
	fifoIn := filepath.Join(dir, "pipe")
	for _, p := range []string{fifoOut, fifoIn} {
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(t, dir, "zz/good.json", []byte(goodEvent))
	if err := os.Symlink(fifoOut, filepath.Join(dir, "a.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("pipe", filepath.Join(dir, "b.json")); err != nil {
		t.Fatal(err)
	}
	res := readWithin(t, context.Background(), []string{dir}, func() { releaseFIFO(fifoOut)(); releaseFIFO(fifoIn)() })
	if res.err != nil {
		t.Fatal(res.err)
	}
	msgs := errorsText(res)
	for _, want := range []string{
		filepath.Join(dir, "a.json") + ": symbolic link that leads out of",
		filepath.Join(dir, "b.json") + ": symbolic link to something that is not a regular file",
		fifoIn + ": not a regular file",
	} {
		if !strings.Contains(msgs, want) {
			t.Errorf("no error %q in:\n%s", want, msgs)
		}
	}
	if len(res.events) != 1 {
		t.Errorf("%d events, want the good file's 1", len(res.events))
	}
}

// TestWalkedFileSwappedForFIFO: a file that was regular when the walk saw
// it and is a FIFO when it is opened (a writer of the directory raced the
// scan) is refused by the descriptor check, at once.
func TestWalkedFileSwappedForFIFO(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := write(t, dir, "x.json", []byte(goodEvent))
	var failed []error
	inputs, roots := expand([]string{dir}, func(_ string, err error) { failed = append(failed, err) })
	defer func() {
		for _, r := range roots {
			r.Close()
		}
	}()
	if len(inputs) != 1 || len(failed) != 0 {
		t.Fatalf("inputs %v, errors %v", inputs, failed)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	r := &runner{ctx: context.Background(), counters: new(Counters),
		sink: source.Sink{Event: func(*detector.Event) error { return nil }}}
	done := make(chan error, 1)
	go func() { done <- r.read(context.Background(), inputs[0]) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), p+": not a regular file") {
			t.Errorf("read = %v, want a not-a-regular-file error", err)
		}
	case <-time.After(hangLimit):
		releaseFIFO(p)()
		<-done
		t.Fatal("opening the swapped-in FIFO blocked")
	}
}

// TestNamedFIFOCancellable: a FIFO named on the command line is read (a
// pipe from <(...) is one), but a cancelled run does not stay stuck in its
// open waiting for a writer.
func TestNamedFIFOCancellable(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	res := readWithin(t, ctx, []string{fifo}, releaseFIFO(fifo))
	if !errors.Is(res.err, context.Canceled) {
		t.Errorf("ReadPaths = %v, want context.Canceled", res.err)
	}
	// The abandoned open(2) returns once a writer comes, and its file is
	// closed then.
	releaseFIFO(fifo)()

	// With a writer, a FIFO is read like any stream.
	fifo = filepath.Join(t.TempDir(), "fifo2")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		f.WriteString(goodEvent)
		f.Close()
	}()
	res = readWithin(t, context.Background(), []string{fifo}, releaseFIFO(fifo))
	if res.err != nil || len(res.inputErr) != 0 || len(res.events) != 1 {
		t.Errorf("reading the FIFO: err %v, input errors %q, %d events", res.err, errorsText(res), len(res.events))
	}
}

// TestErrorsDescribeNotQuote: review H1. An input in no known format is
// described (text, binary data, a known magic) in its error, which may end
// up in tsclientwatch_status; its bytes are not quoted.
func TestErrorsDescribeNotQuote(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "a.log", []byte(shadowLine))
	write(t, dir, "b.json", []byte("\x00\x01secret-token-1234"))
	write(t, dir, "c.evtx", []byte("PK\x03\x04secret-name.txt"))
	res := readWithin(t, context.Background(), []string{dir}, func() {})
	msgs := errorsText(res)
	for _, leak := range []string{"root", "secret"} {
		if strings.Contains(msgs, leak) {
			t.Errorf("errors quote file contents (%q):\n%s", leak, msgs)
		}
	}
	for _, want := range []string{
		"a.log: unknown format (it holds text;",
		"b.json: not JSON (it holds binary data;",
		"c.evtx: not an EVTX file (it holds a ZIP archive (extract it first);",
	} {
		if !strings.Contains(msgs, want) {
			t.Errorf("no error %q in:\n%s", want, msgs)
		}
	}
}
