package detector

import (
	"strings"
	"testing"
)

// referenceMatch is a deliberately plain restatement of the default rule,
// written with allocating string functions, that the fuzzer compares the
// fast matcher against.
func referenceMatch(cfg Config, ev Event) (form Form, drive, share string, ok bool) {
	if ev.Type == TypeOther {
		return "", "", "", false
	}
	p := ev.Executable
	lp := foldASCII(p)
	if strings.HasPrefix(p, `\`) && ev.HostOS != OSLinux {
		if ev.HostOS != "" && ev.HostOS != OSWindows {
			return "", "", "", false
		}
		for _, pre := range []struct {
			s string
			f Form
		}{{`\device\mup\tsclient\`, FormKernel}, {`\\tsclient\`, FormUNC}, {`\\?\unc\tsclient\`, FormUNC}, {`\??\unc\tsclient\`, FormUNC}} {
			if !strings.HasPrefix(lp, pre.s) || len(lp) == len(pre.s) {
				continue
			}
			hasExt := false
			for _, x := range cfg.Extensions {
				x = foldASCII(x)
				if strings.HasSuffix(lp, x) && len(lp) > len(x) {
					hasExt = true
				}
			}
			if !hasExt {
				return "", "", "", false
			}
			rest := p[len(pre.s):]
			if d, s, found := strings.Cut(rest, `\`); found {
				return pre.f, d, `\` + s, true
			}
			return pre.f, "", `\` + rest, true
		}
		return "", "", "", false
	}
	if ev.HostOS != "" && ev.HostOS != OSLinux {
		return "", "", "", false
	}
	if ev.FSType != "" && ev.FSType != "fuse" && !(strings.HasPrefix(ev.FSType, "fuse.") && len(ev.FSType) > len("fuse.")) {
		return "", "", "", false
	}
	parts := strings.Split(p, "/")
	for i := 0; i < len(parts)-1; i++ {
		for _, name := range cfg.XrdpMountNames {
			if parts[i] != name {
				continue
			}
			rest := strings.Join(parts[i+1:], "/")
			if rest == "" {
				continue
			}
			if d, s, found := strings.Cut(rest, "/"); found {
				return FormXrdp, d, "/" + s, true
			}
			return FormXrdp, "", "/" + rest, true
		}
	}
	return "", "", "", false
}

func FuzzMatch(f *testing.F) {
	for _, s := range []string{
		`\Device\Mup\tsclient\C\Tools\mimikatz.exe`, `\\tsclient\c\temp\stack\a.exe`, `\\?\UNC\tsclient\c\a.exe`,
		`\??\UNC\tsclient\e\b.exe`, `\Device\Mup\VBoxSvr\share\x.exe`, `\\tsclientx\c\x.exe`,
		`\Device\Mup\tsclient.evil.com\c\x.exe`, `C:\Program Files\Techinline\TSClient.exe`,
		`/home/alice/thinclient_drives/C:/tools/run.sh`, `/home/u/thinclient_drives/`, `/a//thinclient_drives//x`,
		`\\tsclient\c\a.exe.txt`, `\\TSCLIENT\\a.EXE`, "", `d/x`, `\x/thinclient_drives/C:/a`, `/u/d/run.PS1`,
	} {
		f.Add(s, uint8(TypeStart), "", "", uint8(0))
		f.Add(s, uint8(TypeStart), OSWindows, "", uint8(0))
		f.Add(s, uint8(TypeStart), OSWindows, "", uint8(InferredHostOS))
		f.Add(s, uint8(TypeStartLegacy), OSLinux, "", uint8(0))
		f.Add(s, uint8(TypeStart), OSLinux, "fuse.xrdp-chansrv", uint8(0))
		f.Add(s, uint8(TypeStart), "", "ext4", uint8(0))
	}
	// The default rule, and one with a one-letter mount name and a second
	// extension.
	cfgs := []Config{DefaultConfig(), {Extensions: []string{".exe", ".PS1"}, XrdpMountNames: []string{"d", "thinclient_drives"}}}
	var matchers []*Matcher
	for _, c := range cfgs {
		matchers = append(matchers, MustNew(c))
	}
	strictCfg := DefaultConfig()
	strictCfg.Strict = true
	strict := MustNew(strictCfg)
	f.Fuzz(func(t *testing.T, exe string, typ uint8, hostOS, fsType string, inferred uint8) {
		ev := Event{Type: EventType(typ % 3), HostOS: hostOS, Executable: exe, FSType: fsType, Inferred: Inferred(inferred)}
		for i, m := range matchers {
			d, ok := m.Match(&ev)
			form, drive, share, want := referenceMatch(cfgs[i], ev)
			if ok != want {
				t.Fatalf("config %d: Match(%q, type %v, os %q) = %v, reference says %v", i, exe, ev.Type, hostOS, ok, want)
			}
			if ok && (d.Form != form || d.ClientDrive != drive || d.SharePath != share) {
				t.Fatalf("config %d: Match(%q) derived (%q %q %q), reference (%q %q %q)", i, exe, d.Form, d.ClientDrive, d.SharePath, form, drive, share)
			}
			if ok && !strings.HasSuffix(exe, d.SharePath) {
				t.Fatalf("share path %q is not a suffix of %q", d.SharePath, exe)
			}
		}
		// Strict mode is the Elastic query: host.os.type == "windows" as the
		// document says, event.type "start", and the wildcard
		// `\Device\Mup\tsclient\*.exe`.
		sd, sok := strict.Match(&ev)
		pattern := `\device\mup\tsclient\*.exe`
		wantStrict := ev.Type == TypeStart && hostOS == OSWindows && ev.Inferred == 0 && wildcardFold(pattern, exe)
		if sok != wantStrict {
			t.Fatalf("strict Match(%q, type %v, os %q) = %v, wildcard says %v", exe, ev.Type, hostOS, sok, wantStrict)
		}
		if sok && sd.Form != FormKernel {
			t.Fatalf("strict form %q", sd.Form)
		}
	})
}

// foldASCII lowers A-Z only, byte by byte: Windows compares server names
// without folding other letters (İ is not I), and a byte loop keeps offsets
// valid for invalid UTF-8.
func foldASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// wildcardFold is EQL's case-insensitive `:` for a pattern with one `*`,
// which matches any run of characters, separators included.
func wildcardFold(pattern, s string) bool {
	pre, suf, _ := strings.Cut(pattern, "*")
	ls := foldASCII(s)
	return len(ls) >= len(pre)+len(suf) && strings.HasPrefix(ls, pre) && strings.HasSuffix(ls, suf)
}
