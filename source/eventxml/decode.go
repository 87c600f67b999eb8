package eventxml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/tsclientwatch/tsclientwatch/source/winevent"
)

// parsers keeps parsers (their scratch buffers and interned names) between
// DecodeEvent calls, which a live watcher makes once per event.
var parsers = sync.Pool{New: func() any { return new(parser) }}

// DecodeEvent decodes one rendered event, as EvtRender(EvtRenderEventXml)
// returns it once converted from UTF-16, or as a file holding one event. A
// BOM (UTF-8 or UTF-16), an XML declaration, comments and surrounding white
// space are allowed; anything else after </Event> is an error. Errors give
// the byte offset in data.
func DecodeEvent(data []byte) (winevent.Record, error) {
	if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) {
		u, err := io.ReadAll(newUTF16Reader(bytes.NewReader(data[2:]), data[0] == 0xFE))
		if err != nil {
			return winevent.Record{}, err
		}
		data = u
	}
	data = bytes.TrimPrefix(data, utf8BOM)
	i, err := skipProlog(data)
	if err != nil {
		return winevent.Record{}, err
	}
	if is, _ := isEventStart(data[i:], true); !is {
		return winevent.Record{}, fmt.Errorf("event XML: byte %d: no <Event> element", i)
	}
	rec := winevent.Record{Data: make(map[string]string, 32)}
	p := parsers.Get().(*parser)
	defer func() {
		p.s, p.rec = nil, nil // hold no reference to the caller's data
		parsers.Put(p)
	}()
	n, err := p.decode(data[i:], &rec)
	if err != nil {
		var se *syntaxError
		if errors.As(err, &se) {
			return winevent.Record{}, fmt.Errorf("event XML: byte %d: %s", i+se.off, se.msg)
		}
		return winevent.Record{}, fmt.Errorf("event XML: %w", err)
	}
	rest := bytes.TrimLeft(data[i+n:], " \t\r\n\x00")
	if len(rest) > 0 {
		return winevent.Record{}, fmt.Errorf("event XML: byte %d: unexpected %q after </Event>", len(data)-len(rest), clip(rest, 16))
	}
	return rec, nil
}

// skipProlog returns the offset of the first element after white space, an
// XML declaration, processing instructions and comments.
func skipProlog(data []byte) (int, error) {
	i := 0
	for {
		for i < len(data) && isSpace(data[i]) {
			i++
		}
		var term string
		switch rest := data[i:]; {
		case bytes.HasPrefix(rest, []byte("<?")):
			term = "?>"
		case bytes.HasPrefix(rest, []byte("<!--")):
			term = "-->"
		default:
			return i, nil
		}
		k := bytes.Index(data[i+2:], []byte(term))
		if k < 0 {
			return 0, fmt.Errorf("event XML: byte %d: unterminated %q", i, clip(data[i:], 5))
		}
		i += 2 + k + len(term)
	}
}

// Sniff reports whether head, the first bytes of an input, looks like event
// XML: after a BOM and white space the first byte is '<', and an <Event or
// <Events tag or an XML declaration appears. UTF-16 input is recognised with
// or without a BOM.
func Sniff(head []byte) bool {
	if len(head) >= 2 && (head[0] == 0 || head[1] == 0 ||
		head[0] == 0xFF && head[1] == 0xFE || head[0] == 0xFE && head[1] == 0xFF) {
		be := head[0] == 0 || head[0] == 0xFE
		if head[0] == 0xFF || head[0] == 0xFE {
			head = head[2:]
		}
		u, _ := io.ReadAll(newUTF16Reader(bytes.NewReader(head[:len(head)&^1]), be))
		head = u
	}
	head = bytes.TrimPrefix(head, utf8BOM)
	head = bytes.TrimLeft(head, " \t\r\n")
	if len(head) == 0 || head[0] != '<' {
		return false
	}
	if bytes.HasPrefix(head, []byte("<?xml")) {
		return true
	}
	for b := head; ; {
		k := bytes.Index(b, eventTag)
		if k < 0 {
			return false
		}
		b = b[k+len(eventTag):]
		// At the end of head the tag may be cut: accept it.
		if len(b) == 0 || isSpace(b[0]) || b[0] == '>' || b[0] == '/' || b[0] == 's' {
			return true
		}
	}
}
