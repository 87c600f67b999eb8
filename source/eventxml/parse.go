package eventxml

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tsclientwatch/tsclientwatch/source/winevent"
)

// errShort means the event ran past the end of the bytes given to the
// parser: the caller reads more or, at end of input, reports a truncation.
var errShort = errors.New("event not closed before end of input")

// errNested means a new <Event started inside an open one: the open event
// was cut short (a truncated write followed by the next event). Windows never
// nests Event elements, so this is the one nesting that is not legal data.
var errNested = errors.New("event not closed before the next <Event>")

// maxDepth bounds element nesting inside one event. Rendered events are at
// most a handful of levels deep (UserData adds two or three); the bound keeps
// a hostile input from growing the stack.
const maxDepth = 64

// section is the child of Event the parser is inside.
type section uint8

const (
	secNone section = iota
	secSystem
	secEventData
	secUserData
	secOther // RenderingInfo, ProcessingErrorData, ...: checked for well-formedness, not read
)

// field is the System or EventData value whose text is being collected.
type field uint8

const (
	fNone field = iota
	fEventID
	fChannel
	fComputer
	fRecordID
	fData     // EventData/Data: key in parser.dataName
	fUserData // leaf below UserData: key is the element's local name
)

// parser decodes one <Event> element held entirely in s. It is reused from
// event to event so its scratch buffers and interned names survive.
type parser struct {
	s     []byte
	i     int
	rec   *winevent.Record
	stack [maxDepth][]byte

	sec      section
	capture  field
	capDepth int    // depth of the element whose text is being collected
	text     []byte // decoded text of that element so far
	dataName string // Name attribute of the open EventData/Data
	capName  []byte // local name of the open UserData leaf
	attr     []byte // scratch for decoding attribute values

	eventID, recordID, systemTime []byte
	hasSystem                     bool

	// Data values are gathered in one arena and turned into strings with a
	// single allocation per event when it closes.
	arena  []byte
	values []value

	// names interns Data Name values and UserData element names, which
	// repeat in every event, so building the map costs no key allocations.
	names map[string]string
}

// value is one Data entry: its key and its bytes in parser.arena.
type value struct {
	key        string
	start, end int
}

func (p *parser) addValue(key string) {
	start := len(p.arena)
	p.arena = append(p.arena, p.text...)
	p.values = append(p.values, value{key, start, len(p.arena)})
}

// maxInterned bounds the intern table: names come from the input, and a
// hostile input could otherwise make every name distinct.
const maxInterned = 4096

func (p *parser) intern(b []byte) string {
	if s, ok := p.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if p.names == nil {
		p.names = make(map[string]string)
	}
	if len(p.names) < maxInterned {
		p.names[s] = s
	}
	return s
}

// syntaxError is a well-formedness error at byte off of the event.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("byte %d of event: %s", e.off, e.msg) }

func (p *parser) fail(off int, format string, args ...any) error {
	return &syntaxError{off: off, msg: fmt.Sprintf(format, args...)}
}

// decode is parse behind a guard: a bug in the scanner must cost one event,
// not the process that embeds the reader.
func (p *parser) decode(s []byte, rec *winevent.Record) (n int, err error) {
	defer func() {
		if v := recover(); v != nil {
			*p = parser{names: p.names} // scratch state may be inconsistent
			n, err = 0, fmt.Errorf("internal error decoding event: %v", v)
		}
	}()
	return p.parse(s, rec)
}

// parse decodes the event that starts at s[0] ("<Event") into rec, whose
// Data map must be empty and non-nil. It returns the length of the element.
// It never reads past s and returns errShort when s ends inside the event,
// so a caller holding a prefix of the input can read more and call again.
func (p *parser) parse(s []byte, rec *winevent.Record) (int, error) {
	*p = parser{s: s, rec: rec, names: p.names, text: p.text[:0], attr: p.attr[:0], capName: p.capName[:0],
		arena: p.arena[:0], values: p.values[:0], eventID: p.eventID[:0], recordID: p.recordID[:0], systemTime: p.systemTime[:0]}
	depth := 0
	for {
		// Character data up to the next markup.
		j := bytes.IndexByte(p.s[p.i:], '<')
		if j < 0 {
			return 0, errShort
		}
		if p.capture != fNone && j > 0 {
			var err error
			if p.text, err = p.appendText(p.text, p.s[p.i:p.i+j], p.i); err != nil {
				return 0, err
			}
		}
		p.i += j
		if p.i+1 >= len(p.s) {
			return 0, errShort
		}
		switch p.s[p.i+1] {
		case '/':
			start := p.i
			name, err := p.endTag()
			if err != nil {
				return 0, err
			}
			depth--
			if !bytes.Equal(name, p.stack[depth]) {
				return 0, p.fail(start, "</%s> closes <%s>", name, p.stack[depth])
			}
			if err := p.closeElement(depth); err != nil {
				return 0, err
			}
			if depth == 0 {
				return p.i, p.finish()
			}
		case '!':
			if err := p.bang(); err != nil {
				return 0, err
			}
		case '?':
			k := bytes.Index(p.s[p.i+2:], []byte("?>"))
			if k < 0 {
				return 0, errShort
			}
			p.i += 2 + k + 2
		default:
			start := p.i
			name, selfClosing, err := p.startTag(depth)
			if err != nil {
				return 0, err
			}
			if depth > 0 && bytes.Equal(name, []byte("Event")) {
				return 0, &syntaxError{off: start, msg: errNested.Error()}
			}
			if depth == maxDepth {
				return 0, p.fail(start, "elements nested deeper than %d", maxDepth)
			}
			p.stack[depth] = name
			if selfClosing {
				if err := p.closeElement(depth); err != nil {
					return 0, err
				}
				if depth == 0 {
					return p.i, p.finish()
				}
			} else {
				depth++
			}
		}
	}
}

// localName strips a namespace prefix.
func localName(name []byte) []byte {
	if k := bytes.LastIndexByte(name, ':'); k >= 0 {
		return name[k+1:]
	}
	return name
}

// isSpace reports XML white space.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// nameEnd returns the index just past the XML name starting at i, or an
// error when there is none.
func (p *parser) nameEnd(i int) (int, error) {
	k := i
	for k < len(p.s) {
		c := p.s[k]
		if isSpace(c) || c == '>' || c == '/' || c == '=' || c == '<' || c == '"' || c == '\'' {
			break
		}
		k++
	}
	if k == len(p.s) {
		return 0, errShort
	}
	if k == i {
		return 0, p.fail(i, "expected a name, found %q", p.s[i])
	}
	return k, nil
}

func (p *parser) skipSpace(i int) int {
	for i < len(p.s) && isSpace(p.s[i]) {
		i++
	}
	return i
}

// endTag reads "</name >" at p.i and moves past it. The loop in parse only
// calls it with at least one element open (the root is the first token).
func (p *parser) endTag() ([]byte, error) {
	k, err := p.nameEnd(p.i + 2)
	if err != nil {
		return nil, err
	}
	name := p.s[p.i+2 : k]
	k = p.skipSpace(k)
	if k >= len(p.s) {
		return nil, errShort
	}
	if p.s[k] != '>' {
		return nil, p.fail(k, "unexpected %q in </%s>", p.s[k], name)
	}
	p.i = k + 1
	return name, nil
}

// bang handles comments and CDATA sections at p.i.
func (p *parser) bang() error {
	rest := p.s[p.i:]
	switch {
	case bytes.HasPrefix(rest, []byte("<!--")):
		k := bytes.Index(rest[4:], []byte("-->"))
		if k < 0 {
			return errShort
		}
		p.i += 4 + k + 3
	case bytes.HasPrefix(rest, []byte("<![CDATA[")):
		k := bytes.Index(rest[9:], []byte("]]>"))
		if k < 0 {
			return errShort
		}
		if p.capture != fNone {
			p.text = appendNewlines(p.text, rest[9:9+k])
		}
		p.i += 9 + k + 3
	case len(rest) < 9 && (bytes.HasPrefix([]byte("<!--"), rest) || bytes.HasPrefix([]byte("<![CDATA["), rest)):
		return errShort
	default:
		return p.fail(p.i, "unexpected <! markup inside an event")
	}
	return nil
}

// startTag reads the start tag at p.i, opening element number depth (0 is
// Event itself), picks up the attributes and text the Record needs, and
// moves past the tag.
func (p *parser) startTag(depth int) (name []byte, selfClosing bool, err error) {
	k, err := p.nameEnd(p.i + 1)
	if err != nil {
		return nil, false, err
	}
	name = p.s[p.i+1 : k]
	want := p.open(depth, localName(name))
	for {
		i := p.skipSpace(k)
		if i >= len(p.s) {
			return nil, false, errShort
		}
		switch p.s[i] {
		case '>':
			p.i = i + 1
			return name, false, nil
		case '/':
			if i+1 >= len(p.s) {
				return nil, false, errShort
			}
			if p.s[i+1] != '>' {
				return nil, false, p.fail(i, "expected /> in <%s>", name)
			}
			p.i = i + 2
			return name, true, nil
		}
		if i == k {
			return nil, false, p.fail(i, "expected space before attribute in <%s>", name)
		}
		// name = 'value' or "value"
		ne, err := p.nameEnd(i)
		if err != nil {
			return nil, false, err
		}
		attr := p.s[i:ne]
		i = p.skipSpace(ne)
		if i >= len(p.s) {
			return nil, false, errShort
		}
		if p.s[i] != '=' {
			return nil, false, p.fail(i, "attribute %s of <%s> has no value", attr, name)
		}
		i = p.skipSpace(i + 1)
		if i >= len(p.s) {
			return nil, false, errShort
		}
		q := p.s[i]
		if q != '"' && q != '\'' {
			return nil, false, p.fail(i, "attribute %s of <%s> is not quoted", attr, name)
		}
		e := bytes.IndexByte(p.s[i+1:], q)
		if e < 0 {
			return nil, false, errShort
		}
		val := p.s[i+1 : i+1+e]
		if lt := bytes.IndexByte(val, '<'); lt >= 0 {
			if is, _ := isEventStart(val[lt:], true); is {
				// The tag was cut inside the value and the next event
				// follows.
				return nil, false, &syntaxError{off: i + 1 + lt, msg: errNested.Error()}
			}
			return nil, false, p.fail(i+1+lt, "'<' in the value of attribute %s", attr)
		}
		if want != "" && string(localName(attr)) == want {
			if err := p.setAttr(want, val, i+1); err != nil {
				return nil, false, err
			}
		}
		k = i + 1 + e + 1
	}
}

// open records which element was entered and returns the name of the one
// attribute wanted from it, if any.
func (p *parser) open(depth int, local []byte) (wantAttr string) {
	if p.capture == fUserData && depth > p.capDepth {
		// The element being collected has a child: it is not a leaf.
		p.capture = fNone
	}
	switch depth {
	case 0:
		return ""
	case 1:
		switch string(local) {
		case "System":
			p.sec = secSystem
			p.hasSystem = true
		case "EventData":
			p.sec = secEventData
		case "UserData":
			p.sec = secUserData
		default:
			p.sec = secOther
		}
		return ""
	}
	if p.capture != fNone {
		// A child inside a collected value: its text is part of the value.
		return ""
	}
	switch p.sec {
	case secSystem:
		if depth != 2 {
			return ""
		}
		switch string(local) {
		case "Provider":
			return "Name"
		case "TimeCreated":
			return "SystemTime"
		case "Security":
			return "UserID"
		case "EventID":
			p.collect(fEventID, depth)
		case "Channel":
			p.collect(fChannel, depth)
		case "Computer":
			p.collect(fComputer, depth)
		case "EventRecordID":
			p.collect(fRecordID, depth)
		}
	case secEventData:
		if depth == 2 && string(local) == "Data" {
			p.collect(fData, depth)
			p.dataName = ""
			return "Name"
		}
	case secUserData:
		// UserData/<provider's element>/<leaf>...
		if depth >= 3 {
			p.collect(fUserData, depth)
			p.capName = append(p.capName[:0], local...)
		}
	}
	return ""
}

func (p *parser) collect(f field, depth int) {
	p.capture = f
	p.capDepth = depth
	p.text = p.text[:0]
}

// setAttr decodes and stores the value raw (starting at byte off) of the
// wanted attribute of the element just opened.
func (p *parser) setAttr(want string, raw []byte, off int) error {
	v, err := p.appendText(p.attr[:0], raw, off)
	if err != nil {
		return err
	}
	p.attr = v
	switch {
	case p.capture == fData:
		p.dataName = p.intern(v)
	case want == "Name":
		p.rec.Provider = p.intern(v)
	case want == "SystemTime":
		p.systemTime = append(p.systemTime[:0], v...)
	case want == "UserID":
		p.rec.UserSID = p.intern(v)
	}
	return nil
}

// closeElement ends element number depth and stores the text collected
// for it.
func (p *parser) closeElement(depth int) error {
	if depth == 1 {
		p.sec = secNone
	}
	if p.capture == fNone || p.capDepth != depth {
		return nil
	}
	switch p.capture {
	case fEventID:
		p.eventID = append(p.eventID[:0], p.text...)
	case fRecordID:
		p.recordID = append(p.recordID[:0], p.text...)
	case fChannel:
		p.rec.Channel = p.intern(p.text)
	case fComputer:
		p.rec.Computer = p.intern(p.text)
	case fData:
		// Unnamed <Data> (classic EventLog providers) has no key the
		// mapping could look up; it is left out.
		if p.dataName != "" {
			p.addValue(p.dataName)
		}
	case fUserData:
		k := p.intern(p.capName)
		if _, dup := p.rec.Data[k]; !dup {
			p.rec.Data[k] = "" // claims the name; the value is set by finish
			p.addValue(k)
		}
	}
	p.capture = fNone
	return nil
}

// finish checks and converts the System values once the event is closed
// and fills Data.
func (p *parser) finish() error {
	arena := string(p.arena)
	for _, v := range p.values {
		p.rec.Data[v.key] = arena[v.start:v.end]
	}
	if !p.hasSystem {
		return p.fail(0, "no <System> element")
	}
	id := bytes.TrimSpace(p.eventID)
	if len(id) == 0 {
		return p.fail(0, "no System/EventID")
	}
	n, err := strconv.ParseUint(string(id), 10, 16)
	if err != nil {
		return p.fail(0, "System/EventID %q is not an event id", id)
	}
	p.rec.EventID = int(n)
	if rid := bytes.TrimSpace(p.recordID); len(rid) > 0 {
		if p.rec.RecordID, err = strconv.ParseUint(string(rid), 10, 64); err != nil {
			return p.fail(0, "System/EventRecordID %q is not a number", rid)
		}
	}
	if len(p.systemTime) > 0 {
		t, ok := parseSystemTime(p.systemTime)
		if !ok {
			return p.fail(0, "System/TimeCreated/@SystemTime %q is not a time", p.systemTime)
		}
		p.rec.Time = t
	}
	return nil
}

// parseSystemTime reads TimeCreated/@SystemTime: RFC 3339 with 0 to 9
// fraction digits (wevtutil writes 7, Get-WinEvent 9, evtx_dump 6), in UTC
// when no zone is written.
func parseSystemTime(b []byte) (time.Time, bool) {
	s := string(bytes.TrimSpace(b))
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// appendText appends the character data raw (starting at byte off of the
// event) to dst with entity and character references decoded and line ends
// normalized to \n, as XML requires.
func (p *parser) appendText(dst, raw []byte, off int) ([]byte, error) {
	for {
		k := bytes.IndexByte(raw, '&')
		if k < 0 {
			return appendNewlines(dst, raw), nil
		}
		dst = appendNewlines(dst, raw[:k])
		raw, off = raw[k:], off+k
		semi := bytes.IndexByte(raw, ';')
		if semi < 0 || semi > 10 {
			return nil, p.fail(off, "invalid entity reference %q", clip(raw, 12))
		}
		ref := raw[1:semi]
		switch string(ref) {
		case "amp":
			dst = append(dst, '&')
		case "lt":
			dst = append(dst, '<')
		case "gt":
			dst = append(dst, '>')
		case "quot":
			dst = append(dst, '"')
		case "apos":
			dst = append(dst, '\'')
		default:
			r, ok := charRef(ref)
			if !ok {
				return nil, p.fail(off, "invalid entity reference %q", raw[:semi+1])
			}
			dst = utf8.AppendRune(dst, r)
		}
		raw, off = raw[semi+1:], off+semi+1
	}
}

// charRef decodes "#123" or "#x7B" to a character allowed in XML.
func charRef(ref []byte) (rune, bool) {
	if len(ref) < 2 || ref[0] != '#' {
		return 0, false
	}
	base, digits := 10, ref[1:]
	if digits[0] == 'x' {
		base, digits = 16, digits[1:]
	}
	if len(digits) == 0 {
		return 0, false
	}
	var n rune
	for _, c := range digits {
		var d rune
		switch {
		case '0' <= c && c <= '9':
			d = rune(c - '0')
		case base == 16 && 'a' <= c && c <= 'f':
			d = rune(c-'a') + 10
		case base == 16 && 'A' <= c && c <= 'F':
			d = rune(c-'A') + 10
		default:
			return 0, false
		}
		n = n*rune(base) + d
		if n > utf8.MaxRune {
			return 0, false
		}
	}
	ok := n == 0x9 || n == 0xA || n == 0xD ||
		0x20 <= n && n <= 0xD7FF ||
		0xE000 <= n && n <= 0xFFFD ||
		0x10000 <= n && n <= utf8.MaxRune
	return n, ok
}

// appendNewlines appends b with \r\n and lone \r turned into \n.
func appendNewlines(dst, b []byte) []byte {
	for {
		k := bytes.IndexByte(b, '\r')
		if k < 0 {
			return append(dst, b...)
		}
		dst = append(dst, b[:k]...)
		dst = append(dst, '\n')
		b = b[k+1:]
		if len(b) > 0 && b[0] == '\n' {
			b = b[1:]
		}
	}
}

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
