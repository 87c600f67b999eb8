package detector

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Definition is the rule as data: everything the Matcher decides by, and
// everything the exports (Sigma, EQL, KQL, ES|QL, SPL, osquery SQL) are
// written from. Build it with Config.Definition; the Matcher is built from
// the same value, so the in-process rule and its exports cannot drift.
//
// An event matches when its Type is one of EventTypes and either
//
//   - Windows: the host is Windows (HostOS "windows", or unknown and the
//     path starts with a backslash) and the executable starts with one of
//     WindowsPrefixes and ends with one of Extensions, both compared
//     ignoring ASCII case only (as Windows compares server names); or
//   - xrdp: the host is Linux (HostOS "linux", or unknown and the path does
//     not start with a backslash) and some component of the executable
//     path, split on "/", equals one of XrdpMountNames byte for byte (Linux
//     paths are case-sensitive) and is followed by "/" and at least one
//     more byte; when the event carries the filesystem type (live Linux
//     watchers), it must be FUSE, as xrdp's client drives are. No log
//     format carries it, so the exports cannot say it.
//
// In strict mode the host must be declared Windows: HostOS "windows" read
// from the record, not inferred (see Event.Inferred).
type Definition struct {
	Rule   Rule
	Strict bool
	// EventTypes are the event types that can match, in the order exports
	// list them.
	EventTypes []EventType
	// WindowsPrefixes are the path prefixes under which an RDP client's
	// drives appear on Windows, spelled as Windows writes them. Each ends
	// in the separator after "tsclient" and contains no ".".
	WindowsPrefixes []Prefix
	// Extensions are the suffixes a Windows executable must end with, in
	// lower case, each a "." and at least one character.
	Extensions []string
	// XrdpMountNames are the directory names xrdp's chansrv mounts client
	// drives under; empty in strict mode.
	XrdpMountNames []string
	// NearMisses are paths the rule rejects on purpose, with the reason;
	// exports name them and tests hold every export to rejecting them.
	NearMisses []NearMiss
}

// Prefix is a Windows path prefix and the form a path under it has.
type Prefix struct {
	Text string // as Windows writes it: `\Device\Mup\tsclient\`
	Form Form
}

// NearMiss is an executable path the rule rejects, and why.
type NearMiss struct {
	HostOS string
	Path   string
	Why    string
}

// The Windows prefixes, in the order the matcher tries them. The kernel
// form is what 4688 and Elastic Defend write; Sysmon writes the UNC form;
// the long and NT-object UNC forms appear in command lines and some EDRs.
var windowsPrefixes = []Prefix{
	{`\Device\Mup\tsclient\`, FormKernel},
	{`\\tsclient\`, FormUNC},
	{`\\?\UNC\tsclient\`, FormUNC},
	{`\??\UNC\tsclient\`, FormUNC},
}

// nearMisses are the look-alikes the rule must never match.
var nearMisses = []NearMiss{
	{OSWindows, `\Device\Mup\VBoxSvr\share\tool.exe`, "another MUP server (a VirtualBox shared folder)"},
	{OSWindows, `\\fileserver\deploy\setup.exe`, "another UNC server"},
	{OSWindows, `\\tsclientx\c\tool.exe`, "a server whose name only starts with tsclient"},
	{OSWindows, `\Device\Mup\tsclient.evil.com\c\tool.exe`, "a DNS name that starts with tsclient"},
	{OSWindows, `C:\Program Files (x86)\Techinline\TSClient.exe`, "a local program named TSClient.exe (Techinline remote support)"},
	{OSWindows, `C:\tsclient\c\tool.exe`, "a local folder named tsclient"},
	{OSWindows, `\??\C:\tsclient\tool.exe`, "an NT object path to a local drive"},
	{OSWindows, `\\tsclient\c\tool.exe.txt`, "an executable extension that is not the suffix"},
	{OSLinux, `/home/alice/thinclient_drives`, "the mount directory itself"},
	{OSLinux, `/home/alice/thinclient_drives_old/C:/run.sh`, "a directory whose name only starts with a mount name"},
	{OSLinux, `/home/alice/Thinclient_Drives/C:/run.sh`, "a mount name in another case (Linux paths are case-sensitive)"},
	{OSLinux, `/mnt/tsclient/c/tool.exe`, "a Linux directory named tsclient"},
}

// Definition checks c and returns the rule it describes.
func (c Config) Definition() (Definition, error) {
	if err := c.Validate(); err != nil {
		return Definition{}, err
	}
	d := Definition{Rule: DefaultRule(), Strict: c.Strict}
	d.Rule.Strict = c.Strict
	if c.Strict {
		d.EventTypes = []EventType{TypeStart}
		d.WindowsPrefixes = windowsPrefixes[:1]
		d.Extensions = []string{".exe"}
	} else {
		d.EventTypes = []EventType{TypeStart, TypeStartLegacy}
		d.WindowsPrefixes = windowsPrefixes
		for _, e := range c.Extensions {
			d.Extensions = appendUnique(d.Extensions, strings.ToLower(e))
		}
		for _, n := range c.XrdpMountNames {
			d.XrdpMountNames = appendUnique(d.XrdpMountNames, n)
		}
	}
	// Callers get their own slices: the package-level ones stay intact.
	d.WindowsPrefixes = append([]Prefix(nil), d.WindowsPrefixes...)
	// A near miss is one only if these settings reject it: ".txt" as an
	// extension or "Thinclient_Drives" as a mount name turns one into a hit.
	m := newMatcher(d)
	for _, nm := range nearMisses {
		ev := Event{Type: TypeStart, HostOS: nm.HostOS, Executable: nm.Path}
		if _, hit := m.Match(&ev); !hit {
			d.NearMisses = append(d.NearMisses, nm)
		}
	}
	return d, nil
}

func (d Definition) clone() Definition {
	d.EventTypes = append([]EventType(nil), d.EventTypes...)
	d.WindowsPrefixes = append([]Prefix(nil), d.WindowsPrefixes...)
	d.Extensions = append([]string(nil), d.Extensions...)
	d.XrdpMountNames = append([]string(nil), d.XrdpMountNames...)
	d.NearMisses = append([]NearMiss(nil), d.NearMisses...)
	return d
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// Validate reports the first invalid setting, naming its configuration key.
// Extensions and mount names end up quoted inside queries of half a dozen
// languages, so characters no Windows file name or sane directory name
// holds are refused here rather than escaped badly there.
func (c Config) Validate() error {
	for i, e := range c.Extensions {
		switch {
		case len(e) < 2 || e[0] != '.' || strings.ContainsAny(e[1:], `./\ `):
			return fmt.Errorf("detector.extensions[%d]: %q is not a file extension (want a dot and a name, e.g. \".exe\")", i, e)
		case !utf8.ValidString(e) || hasControl(e):
			return fmt.Errorf("detector.extensions[%d]: %q holds a control character or invalid UTF-8", i, e)
		case strings.ContainsAny(e, `<>:"|?*`):
			return fmt.Errorf("detector.extensions[%d]: %q holds a character Windows forbids in file names (<>:\"|?*)", i, e)
		}
	}
	for i, n := range c.XrdpMountNames {
		switch {
		case n == "" || n == "." || n == ".." || strings.ContainsAny(n, `/\`):
			return fmt.Errorf("detector.xrdp_mount_names[%d]: %q is not a directory name (want one path component, e.g. \"thinclient_drives\")", i, n)
		case !utf8.ValidString(n) || hasControl(n):
			return fmt.Errorf("detector.xrdp_mount_names[%d]: %q holds a control character or invalid UTF-8", i, n)
		case strings.ContainsAny(n, `*?`):
			return fmt.Errorf("detector.xrdp_mount_names[%d]: %q holds a wildcard (* or ?), which the rule exports could not match literally", i, n)
		}
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}
