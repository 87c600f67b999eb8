//go:build !windows

package extension

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/osquery/osquery-go/gen/osquery"
	"github.com/osquery/osquery-go/transport"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestListenFailure: review D1. When the extension cannot listen at its
// path (someone else holds the name: on Windows any user can create the
// pipe first), osquery would route its calls there. The extension takes the
// registration back, logs an error and returns ErrListen.
func TestListenFailure(t *testing.T) {
	sock := socketPath(t)
	o := newOsqueryd(t, sock, 0)
	// The path osquery will assign (uuid 17) is taken.
	taken := fmt.Sprintf("%s.%d", sock, 17)
	if err := os.Mkdir(taken, 0o700); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	errc := make(chan error, 1)
	go func() {
		errc <- Run(context.Background(), Options{Socket: sock, Timeout: patience, Interval: 20 * time.Millisecond,
			Log: slog.New(slog.NewTextHandler(&logs, nil))})
	}()
	err := wait(t, errc)
	if !errors.Is(err, ErrListen) || !strings.Contains(err.Error(), taken) {
		t.Fatalf("Run = %v, want ErrListen naming %s", err, taken)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "cannot listen") {
		t.Errorf("no error logged:\n%s", logs.String())
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !slices.Equal(o.deregistered, []osquery.ExtensionRouteUUID{17}) {
		t.Errorf("deregistered %v, want [17]: osquery would go on routing calls to whoever holds %s", o.deregistered, taken)
	}
}

// TestSocketOwnerOnly: the extension's own socket is 0600 whatever the
// process umask, which Run cannot rely on (tsclientwatch.ext sets 077, an
// embedding program may not).
func TestSocketOwnerOnly(t *testing.T) {
	sock := socketPath(t)
	o := newOsqueryd(t, sock, 0)
	ctx, cancel := context.WithCancel(context.Background())
	errc := start(t, ctx, Options{Socket: sock, Interval: time.Hour})
	o.waitRegistered()
	path := fmt.Sprintf("%s.%d", sock, 17)
	var fi os.FileInfo
	for deadline := time.Now().Add(patience); ; time.Sleep(5 * time.Millisecond) {
		var err error
		if fi, err = os.Stat(path); err == nil && fi.Mode().Perm() == 0o600 || time.Now().After(deadline) {
			break
		}
	}
	cancel()
	if err := wait(t, errc); err != nil {
		t.Fatal(err)
	}
	if fi == nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("extension socket %s: %v, want a socket with mode 0600", path, fi.Mode())
	}
}

// TestOsqueryShutdownCall: osqueryd calls shutdown on its extensions when it
// stops; the extension deregisters and Run returns nil.
func TestOsqueryShutdownCall(t *testing.T) {
	sock := socketPath(t)
	o := newOsqueryd(t, sock, 0)
	errc := start(t, context.Background(), Options{Socket: sock, Interval: time.Hour})
	o.waitRegistered()
	var trans *thrift.TSocket
	var err error
	for deadline := time.Now().Add(patience); ; time.Sleep(5 * time.Millisecond) {
		if trans, err = transport.Open(fmt.Sprintf("%s.%d", sock, 17), patience); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	c := osquery.NewExtensionClientFactory(thrift.NewTBufferedTransport(trans, 4096), thrift.NewTBinaryProtocolFactoryConf(nil))
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown call: %v", err)
	}
	trans.Close()
	if err := wait(t, errc); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !slices.Equal(o.deregistered, []osquery.ExtensionRouteUUID{17}) {
		t.Errorf("deregistered %v, want [17]", o.deregistered)
	}
}
