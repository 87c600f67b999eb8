package evidence

import (
	"strings"
	"testing"
)

func TestWindowsPath(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{`\Device\Mup\tsclient\C\x.exe`, `\\tsclient\C\x.exe`},
		{`\DEVICE\MUP\TsClient\c\Tools\A.EXE`, `\\TsClient\c\Tools\A.EXE`},
		{`\Device\Mup\;RdpDr\;Z:2\tsclient\D\x.exe`, `\\tsclient\D\x.exe`},
		{`\Device\RdpDr\;Z:2\tsclient\D\x.exe`, `\\tsclient\D\x.exe`},
		{`\Device\RdpDr\;:1\tsclient\C\x.exe`, `\\tsclient\C\x.exe`},
		{`\device\mup\;LanmanRedirector\;Z:0000000000012345\host\share\x.exe`, `\\host\share\x.exe`},
		{`\Device\LanmanRedirector\;Z:0000000000012345\host\share\x.exe`, `\\host\share\x.exe`},
		{`\Device\HarddiskVolume3\Windows\x.exe`, `\\?\GLOBALROOT\Device\HarddiskVolume3\Windows\x.exe`},
		{`\\?\GLOBALROOT\Device\Mup\tsclient\C\x.exe`, `\\tsclient\C\x.exe`},
		{`\\?\GLOBALROOT\Device\HarddiskVolume3\x.exe`, `\\?\GLOBALROOT\Device\HarddiskVolume3\x.exe`},
		{`\\tsclient\C\x.exe`, `\\tsclient\C\x.exe`},
		{`\\?\UNC\tsclient\C\x.exe`, `\\tsclient\C\x.exe`},
		{`\??\UNC\tsclient\C\x.exe`, `\\tsclient\C\x.exe`},
		{`C:\Windows\notepad.exe`, `C:\Windows\notepad.exe`},
		{`\\?\C:\Windows\notepad.exe`, `C:\Windows\notepad.exe`},
		{`\??\c:\x.exe`, `c:\x.exe`},
		{`\\tsclient\C\x.exe:stream`, `\\tsclient\C\x.exe:stream`},
		// Refused.
		{``, ``},
		{`x.exe`, ``},
		{`C:x.exe`, ``},
		{`C:\`, ``},
		{`1:\x.exe`, ``},
		{`\\.\pipe\x`, ``},
		{`\\.\C:\x.exe`, ``},
		{`\\tsclient\C`, ``},
		{`\\tsclient\C\`, ``},
		{`\\tsclient\C\..\..\Windows\x.exe`, ``},
		{`\\tsclient\C\.\x.exe`, ``},
		{`\\tsclient\\C\x.exe`, ``},
		{`\\tsclient\C/x.exe`, ``},
		{`\\tsclient\C\a?.exe`, ``},
		{"\\\\tsclient\\C\\a\x00.exe", ``},
		{"\\\\tsclient\\C\\a\x1b.exe", ``},
		{`\Device\Mup\;RdpDr\;Z:2`, ``},
		{`\Device\Mup\;RdpDr\;Z:2\`, ``},
		{`\Device\RdpDr\;Z:2\tsclient`, ``},
		{`\Device\Mup`, ``},
		{`\Device\`, ``},
		{`\Device\HarddiskVolume3`, ``},
		{`\Device\HarddiskVolume3\..\x`, ``},
		{`\??\`, ``},
		{`\\?\`, ``},
		{`\\?\UNC\`, ``},
		{`/tmp/x`, ``},
	} {
		got := WindowsPath(tt.in)
		if got != tt.want {
			t.Errorf("WindowsPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got != "" && WindowsPath(got) != got {
			t.Errorf("WindowsPath(%q) = %q, which it changes again to %q", tt.in, got, WindowsPath(got))
		}
	}
}

// wellFormed is the contract: "" or one of the forms CreateFile opens
// without surprises.
func wellFormed(p string) bool {
	if p == "" {
		return true
	}
	var rest string
	var min int
	switch {
	case strings.HasPrefix(p, `\\?\GLOBALROOT\Device\`):
		rest, min = p[len(`\\?\GLOBALROOT\Device\`):], 2
	case strings.HasPrefix(p, `\\`):
		rest, min = p[2:], 3
	case len(p) > 3 && p[1] == ':' && p[2] == '\\' && (p[0]|0x20) >= 'a' && (p[0]|0x20) <= 'z':
		rest, min = p[3:], 1
	default:
		return false
	}
	parts := strings.Split(rest, `\`)
	return len(parts) >= min && validNames(parts)
}

func FuzzWindowsPath(f *testing.F) {
	for _, s := range []string{`\Device\Mup\tsclient\C\x.exe`, `\Device\RdpDr\;Z:2\tsclient\D\x.exe`, `\\?\UNC\a\b\c`,
		`C:\x`, `\??\C:\x`, `\\.\pipe\x`, `\Device\HarddiskVolume1\x`, `\\?\GLOBALROOT\Device\Mup\;x\a\b\c`, "\\\\a\\b\\\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := WindowsPath(in)
		if !wellFormed(out) {
			t.Fatalf("WindowsPath(%q) = %q: not a well-formed path", in, out)
		}
		if out != "" && WindowsPath(out) != out {
			t.Fatalf("WindowsPath(%q) = %q, not stable: %q", in, out, WindowsPath(out))
		}
	})
}
