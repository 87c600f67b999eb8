package evidence

import "strings"

// redirectors are the NT devices whose paths are network paths: what
// follows the device (and the ';'-components naming a drive mapping) is
// \server\share\...
var redirectors = []string{"Mup", "RdpDr", "LanmanRedirector", "WebDavRedirector"}

// WindowsPath turns the path a Windows source reports for an executable
// into a Win32 path that CreateFile can open, or "" when it is no path to
// a file:
//
//   - \Device\Mup\tsclient\C\x.exe (the kernel form ETW and Sysmon give)
//     becomes \\tsclient\C\x.exe;
//   - the per-session device of a drive letter mapped onto a client drive,
//     \Device\RdpDr\;Z:1\tsclient\C\x.exe or
//     \Device\Mup\;RdpDr\;Z:1\tsclient\C\x.exe (osquery's
//     process_etw_events, source/osqueryevents), and the same through
//     LanmanRedirector or WebDavRedirector, become \\tsclient\C\x.exe;
//   - \\?\UNC\server\share\x and \??\UNC\server\share\x become
//     \\server\share\x; \\server\share\x stays;
//   - C:\x, \\?\C:\x and \??\C:\x become C:\x;
//   - any other \Device\... path becomes \\?\GLOBALROOT\Device\..., which
//     reaches the kernel object directly.
//
// Everything else is "": relative paths, the \\.\ device namespace, paths
// with empty, "." or ".." components, control characters, forward
// slashes or the characters Win32 forbids in names (<>"|?*), a UNC path
// without a file below its share. It never panics, and its output is
// again accepted unchanged.
func WindowsPath(nt string) string {
	for _, p := range []struct {
		prefix string
		conv   func(string) string
	}{
		{`\\?\UNC\`, unc},
		{`\??\UNC\`, unc},
		{`\\?\GLOBALROOT\Device\`, device},
		{`\??\GLOBALROOT\Device\`, device},
		{`\\?\`, drive},
		{`\??\`, drive},
		{`\\.\`, func(string) string { return "" }},
		{`\\`, unc},
		{`\Device\`, device},
	} {
		if hasPrefixFold(nt, p.prefix) {
			return p.conv(nt[len(p.prefix):])
		}
	}
	return drive(nt)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// unc takes server\share\rest.
func unc(rest string) string {
	parts := strings.Split(rest, `\`)
	if len(parts) < 3 || !validNames(parts) {
		return ""
	}
	return `\\` + rest
}

// device takes Name\rest of \Device\Name\rest.
func device(rest string) string {
	parts := strings.Split(rest, `\`)
	for _, r := range redirectors {
		if !strings.EqualFold(parts[0], r) {
			continue
		}
		i := 1
		for i < len(parts) && strings.HasPrefix(parts[i], ";") {
			i++
		}
		return unc(strings.Join(parts[i:], `\`))
	}
	if len(parts) < 2 || !validNames(parts) {
		return ""
	}
	return `\\?\GLOBALROOT\Device\` + rest
}

// drive takes X:\rest.
func drive(p string) string {
	if len(p) < 4 || p[1] != ':' || p[2] != '\\' {
		return ""
	}
	if c := p[0] | 0x20; c < 'a' || c > 'z' {
		return ""
	}
	if !validNames(strings.Split(p[3:], `\`)) {
		return ""
	}
	return p
}

// validNames accepts path components that name one entry each.
func validNames(parts []string) bool {
	for _, s := range parts {
		if s == "" || s == "." || s == ".." {
			return false
		}
		for _, r := range s {
			if r < 0x20 || r == 0x7f || strings.ContainsRune(`/<>"|?*`, r) {
				return false
			}
		}
	}
	return true
}
