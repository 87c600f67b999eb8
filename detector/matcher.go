package detector

import (
	"context"
	"strings"
)

// Config selects how the rule matches. The zero value is not useful; start
// from DefaultConfig.
type Config struct {
	// Strict reproduces the Elastic query exactly: kernel form only, ".exe",
	// host OS "windows", event type "start".
	Strict bool
	// Extensions are the file-name suffixes a Windows executable must end
	// with, compared case-insensitively (".exe"). Ignored in strict mode.
	Extensions []string
	// XrdpMountNames are the directory names xrdp's chansrv mounts client
	// drives under. Ignored in strict mode.
	XrdpMountNames []string
}

// DefaultConfig returns the default (non-strict) configuration.
func DefaultConfig() Config {
	return Config{
		Extensions:     []string{".exe"},
		XrdpMountNames: []string{"thinclient_drives", ".thinclient_drives", "xrdp_client", "xrdp-client"},
	}
}

// Matcher is the in-process rule. It is safe for concurrent use and does not
// allocate for an event that does not match.
type Matcher struct {
	strict     bool
	kernel     string   // strict mode's one prefix, lower case
	prefixes   []prefix // lower case
	extensions []string // lower case
	mounts     []string
	def        Definition
}

// prefix is a Windows prefix folded to lower case for the comparison.
type prefix struct {
	lower string
	form  Form
}

// New builds a Matcher from cfg.
func New(cfg Config) (*Matcher, error) {
	def, err := cfg.Definition()
	if err != nil {
		return nil, err
	}
	return newMatcher(def), nil
}

// newMatcher builds the Matcher for a checked definition.
func newMatcher(def Definition) *Matcher {
	m := &Matcher{strict: def.Strict, def: def, extensions: def.Extensions, mounts: def.XrdpMountNames}
	for _, p := range def.WindowsPrefixes {
		m.prefixes = append(m.prefixes, prefix{lower: asciiLower(p.Text), form: p.Form})
	}
	if def.Strict {
		m.kernel = m.prefixes[0].lower
	}
	return m
}

// MustNew is New for configurations known to be valid; it panics otherwise.
func MustNew(cfg Config) *Matcher {
	m, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return m
}

// Info implements Detector.
func (m *Matcher) Info() Rule { return m.def.Rule }

// Definition returns the rule the Matcher runs, for exports. The result is
// the caller's to change.
func (m *Matcher) Definition() Definition { return m.def.clone() }

// Detect implements Detector. It never fails.
func (m *Matcher) Detect(_ context.Context, batch []Event, out []Detection) ([]Detection, error) {
	for i := range batch {
		if v := m.judge(&batch[i]); v.ok {
			out = append(out, m.detection(&batch[i], v))
		}
	}
	return out, nil
}

// Match reports whether e is an execution from an RDP client drive and, if
// so, returns the detection.
func (m *Matcher) Match(e *Event) (Detection, bool) {
	v := m.judge(e)
	if !v.ok {
		return Detection{}, false
	}
	return m.detection(e, v), true
}

// verdict is what judge decides: whether the event matches, and if so the
// path form and the rest of the path after tsclient or the mount (without
// its leading separator). It is small, so judging the many events that do
// not match copies no Detection.
type verdict struct {
	form Form
	rest string
	sep  byte
	ok   bool
}

func (m *Matcher) judge(e *Event) verdict {
	p := e.Executable
	if m.strict {
		if e.Type != TypeStart || e.HostOS != OSWindows || e.Inferred != 0 {
			return verdict{}
		}
		if len(p) < len(m.kernel)+len(".exe") || !hasPrefixFold(p, m.kernel) || !hasSuffixFold(p, ".exe") {
			return verdict{}
		}
		return verdict{FormKernel, p[len(m.kernel):], '\\', true}
	}
	if e.Type == TypeOther || p == "" {
		return verdict{}
	}
	// A path that starts with a backslash is a Windows path unless the
	// host is known to be Linux, where it is just an odd file name.
	if p[0] == '\\' && e.HostOS != OSLinux {
		if e.HostOS != "" && e.HostOS != OSWindows {
			return verdict{}
		}
		return m.matchWindows(p)
	}
	if len(m.mounts) == 0 || (e.HostOS != "" && e.HostOS != OSLinux) {
		return verdict{}
	}
	return m.matchXrdp(e, p)
}

func (m *Matcher) matchWindows(p string) verdict {
	for _, w := range m.prefixes {
		if len(p) > len(w.lower) && hasPrefixFold(p, w.lower) {
			if !m.hasExtension(p) {
				return verdict{}
			}
			return verdict{w.form, p[len(w.lower):], '\\', true}
		}
	}
	return verdict{}
}

func (m *Matcher) hasExtension(p string) bool {
	for _, x := range m.extensions {
		if len(p) > len(x) && hasSuffixFold(p, x) {
			return true
		}
	}
	return false
}

// matchXrdp looks for a path component equal to a mount name with at least
// one component after it. The executable must sit on a FUSE mount when its
// filesystem is known: xrdp's chansrv serves client drives only through
// FUSE, while any local user can create a plain directory of that name
// and flood the store with execs from it. Events that do not carry the
// filesystem type (every log format) are judged on the path alone.
func (m *Matcher) matchXrdp(e *Event, p string) verdict {
	if e.FSType != "" && !IsFUSE(e.FSType) {
		return verdict{}
	}
	start := 0
	for start < len(p) {
		end := strings.IndexByte(p[start:], '/')
		if end < 0 {
			return verdict{} // the last component is the file itself
		}
		end += start
		comp := p[start:end]
		for _, name := range m.mounts {
			if comp == name && end+1 < len(p) {
				return verdict{FormXrdp, p[end+1:], '/', true}
			}
		}
		start = end + 1
	}
	return verdict{}
}

// IsFUSE reports whether fsType, as mountinfo spells it, is a FUSE
// filesystem: "fuse" or "fuse.<subtype>" ("fuse.xrdp-chansrv").
func IsFUSE(fsType string) bool {
	return fsType == "fuse" || (len(fsType) > len("fuse.") && fsType[:len("fuse.")] == "fuse.")
}

// detection splits v.rest (the path after tsclient or the mount, without
// its leading separator) into the client drive and the path inside it.
func (m *Matcher) detection(e *Event, v verdict) Detection {
	rest := v.rest
	d := Detection{Event: *e, Form: v.form, RuleID: RuleID}
	if i := strings.IndexByte(rest, v.sep); i >= 0 {
		d.ClientDrive = rest[:i]
		d.SharePath = rest[i:]
	} else {
		// rest is a suffix of the executable and always follows a
		// separator, so this slice includes it without allocating.
		d.SharePath = e.Executable[len(e.Executable)-len(rest)-1:]
	}
	return d
}

// hasPrefixFold reports whether s starts with prefix, ignoring ASCII case.
// prefix must be lower case.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if lower(s[i]) != prefix[i] {
			return false
		}
	}
	return true
}

// hasSuffixFold reports whether s ends with suffix, ignoring ASCII case.
// suffix must be lower case.
func hasSuffixFold(s, suffix string) bool {
	if len(s) < len(suffix) {
		return false
	}
	off := len(s) - len(suffix)
	for i := 0; i < len(suffix); i++ {
		if lower(s[off+i]) != suffix[i] {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}
