//go:build !windows

// Package osquerytest plays osqueryd's extension manager over a real Thrift
// unix socket (osquery-go's generated processor and mock), so tests can run
// a whole extension binary's main the way osqueryd would: answer pings,
// accept the registration, list the extension, and call its tables on the
// extension's own socket with a new connection per call.
package osquerytest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/osquery/osquery-go/gen/osquery"
	"github.com/osquery/osquery-go/mock"
	"github.com/osquery/osquery-go/transport"
)

// Osqueryd is a fake osqueryd listening on Socket.
type Osqueryd struct {
	// Socket is the extension manager socket to pass as --socket.
	Socket string

	t    testing.TB
	srv  *thrift.TSimpleServer
	done chan struct{}

	mu         sync.Mutex
	info       *osquery.InternalExtensionInfo
	registry   osquery.ExtensionRegistry
	uuid       osquery.ExtensionRouteUUID
	registered chan struct{}
}

// Start listens on a fresh socket in a short temporary directory (unix
// socket paths are limited to about 100 bytes, which t.TempDir() names can
// exceed) and stops when the test ends.
func Start(t testing.TB) *Osqueryd {
	t.Helper()
	dir, err := os.MkdirTemp("", "tswosq")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	o := &Osqueryd{Socket: filepath.Join(dir, "osquery.em"), t: t, done: make(chan struct{}), registered: make(chan struct{})}
	m := &mock.ExtensionManager{
		PingFunc: func(context.Context) (*osquery.ExtensionStatus, error) {
			return &osquery.ExtensionStatus{Code: 0, Message: "OK"}, nil
		},
		RegisterExtensionFunc: func(_ context.Context, info *osquery.InternalExtensionInfo, reg osquery.ExtensionRegistry) (*osquery.ExtensionStatus, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			if o.info != nil {
				return &osquery.ExtensionStatus{Code: 1, Message: "Duplicate extension registered"}, nil
			}
			o.info, o.registry, o.uuid = info, reg, 23
			close(o.registered)
			return &osquery.ExtensionStatus{Code: 0, Message: "OK", UUID: o.uuid}, nil
		},
		DeregisterExtensionFunc: func(context.Context, osquery.ExtensionRouteUUID) (*osquery.ExtensionStatus, error) {
			return &osquery.ExtensionStatus{Code: 0, Message: "OK"}, nil
		},
		ExtensionsFunc: func(context.Context) (osquery.InternalExtensionList, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			list := osquery.InternalExtensionList{0: {Name: "core", Version: "5.13.1"}}
			if o.info != nil {
				list[o.uuid] = o.info
			}
			return list, nil
		},
	}
	addr, err := net.ResolveUnixAddr("unix", o.Socket)
	if err != nil {
		t.Fatal(err)
	}
	o.srv = thrift.NewTSimpleServer2(osquery.NewExtensionManagerProcessor(m), thrift.NewTServerSocketFromAddrTimeout(addr, 0))
	o.srv.SetLogContext(context.Background())
	if err := o.srv.Listen(); err != nil {
		t.Fatalf("listen on %s: %v", o.Socket, err)
	}
	go func() {
		defer close(o.done)
		o.srv.AcceptLoop()
	}()
	t.Cleanup(func() {
		o.srv.Stop()
		<-o.done
	})
	return o
}

// WaitRegistered waits up to patience for the extension to register and
// returns what it registered as: its name and version (what
// osquery_extensions shows) and its tables' routes.
func (o *Osqueryd) WaitRegistered(patience time.Duration) (*osquery.InternalExtensionInfo, osquery.ExtensionRegistry) {
	o.t.Helper()
	select {
	case <-o.registered:
	case <-time.After(patience):
		o.t.Fatalf("no extension registered at %s within %v", o.Socket, patience)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.info, o.registry
}

// Generate asks the registered extension for every row of table, as osquery
// does for a query without constraints: a new connection to the extension's
// socket (<Socket>.<uuid>) for the call.
func (o *Osqueryd) Generate(table string) ([]map[string]string, error) {
	o.mu.Lock()
	uuid := o.uuid
	o.mu.Unlock()
	trans, err := transport.Open(fmt.Sprintf("%s.%d", o.Socket, uuid), 10*time.Second)
	if err != nil {
		return nil, err
	}
	defer trans.Close()
	c := osquery.NewExtensionClientFactory(thrift.NewTBufferedTransport(trans, 4096), thrift.NewTBinaryProtocolFactoryConf(nil))
	resp, err := c.Call(context.Background(), "table", table, osquery.ExtensionPluginRequest{"action": "generate", "context": "{}"})
	if err != nil {
		return nil, err
	}
	if resp.Status.Code != 0 {
		return nil, fmt.Errorf("generate %s: status %d: %s", table, resp.Status.Code, resp.Status.Message)
	}
	return resp.Response, nil
}
