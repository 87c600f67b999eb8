package extension

import (
	"context"
	"net"
	"sync"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/osquery/osquery-go/gen/osquery"
	"github.com/osquery/osquery-go/plugin/table"

	"github.com/tsclientwatch/tsclientwatch/tables"
)

// handler answers osquery's calls to the extension (the Thrift Extension
// service): ping, call a table, shut down. osquery-go's own server does
// the same, but creates its listener itself with no way to set its
// permissions, so the extension serves osquery-go's generated processor
// from a listener of its own.
type handler struct {
	plugins  map[string]*table.Plugin
	shutdown chan struct{}
	once     sync.Once
}

func newHandler(ts []tables.Table) *handler {
	h := &handler{plugins: make(map[string]*table.Plugin, len(ts)), shutdown: make(chan struct{})}
	for _, t := range ts {
		p := t.Plugin()
		h.plugins[p.Name()] = p
	}
	return h
}

// registry is what RegisterExtension tells osquery the extension serves.
func (h *handler) registry() osquery.ExtensionRegistry {
	routes := osquery.ExtensionRouteTable{}
	for name, p := range h.plugins {
		routes[name] = p.Routes()
	}
	return osquery.ExtensionRegistry{"table": routes}
}

func (h *handler) Ping(context.Context) (*osquery.ExtensionStatus, error) {
	return &osquery.ExtensionStatus{Code: 0, Message: "OK"}, nil
}

func (h *handler) Call(ctx context.Context, registry, item string, req osquery.ExtensionPluginRequest) (*osquery.ExtensionResponse, error) {
	p, ok := h.plugins[item]
	if registry != "table" || !ok {
		return &osquery.ExtensionResponse{Status: &osquery.ExtensionStatus{Code: 1,
			Message: "unknown registry item: " + registry + "/" + item}}, nil
	}
	resp := p.Call(ctx, req)
	return &resp, nil
}

// Shutdown is osquery asking the extension to stop (osqueryd does so when
// it stops); Run then deregisters and returns.
func (h *handler) Shutdown(context.Context) error {
	h.once.Do(func() { close(h.shutdown) })
	return nil
}

// listenerTransport serves Thrift on a listener that is already open.
type listenerTransport struct {
	ln net.Listener
}

func (l *listenerTransport) Listen() error { return nil }

func (l *listenerTransport) Accept() (thrift.TTransport, error) {
	c, err := l.ln.Accept()
	if err != nil {
		return nil, thrift.NewTTransportExceptionFromError(err)
	}
	return thrift.NewTSocketFromConnConf(c, &thrift.TConfiguration{}), nil
}

func (l *listenerTransport) Close() error     { return l.ln.Close() }
func (l *listenerTransport) Interrupt() error { return l.ln.Close() }
