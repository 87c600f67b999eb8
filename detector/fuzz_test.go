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
	lp := strings.ToLower(p)
	if strings.HasPrefix(p, `\`) {
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
				x = strings.ToLower(x)
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
		`\\tsclient\c\a.exe.txt`, `\\TSCLIENT\\a.EXE`, "",
	} {
		f.Add(s, uint8(TypeStart), "", "")
		f.Add(s, uint8(TypeStart), OSWindows, "")
		f.Add(s, uint8(TypeStartLegacy), OSLinux, "")
		f.Add(s, uint8(TypeStart), OSLinux, "fuse.xrdp-chansrv")
		f.Add(s, uint8(TypeStart), "", "ext4")
	}
	cfg := DefaultConfig()
	m := MustNew(cfg)
	strictCfg := cfg
	strictCfg.Strict = true
	strict := MustNew(strictCfg)
	f.Fuzz(func(t *testing.T, exe string, typ uint8, hostOS, fsType string) {
		ev := Event{Type: EventType(typ % 3), HostOS: hostOS, Executable: exe, FSType: fsType}
		d, ok := m.Match(&ev)
		form, drive, share, want := referenceMatch(cfg, ev)
		if ok != want {
			t.Fatalf("Match(%q, type %v, os %q) = %v, reference says %v", exe, ev.Type, hostOS, ok, want)
		}
		if ok && (d.Form != form || d.ClientDrive != drive || d.SharePath != share) {
			t.Fatalf("Match(%q) derived (%q %q %q), reference (%q %q %q)", exe, d.Form, d.ClientDrive, d.SharePath, form, drive, share)
		}
		if ok && !strings.HasSuffix(exe, d.SharePath) {
			t.Fatalf("share path %q is not a suffix of %q", d.SharePath, exe)
		}
		// Strict mode is the Elastic wildcard `\Device\Mup\tsclient\*.exe`.
		sd, sok := strict.Match(&ev)
		pattern := `\device\mup\tsclient\*.exe`
		wantStrict := ev.Type == TypeStart && hostOS == OSWindows && wildcardFold(pattern, exe)
		if sok != wantStrict {
			t.Fatalf("strict Match(%q, type %v, os %q) = %v, wildcard says %v", exe, ev.Type, hostOS, sok, wantStrict)
		}
		if sok && sd.Form != FormKernel {
			t.Fatalf("strict form %q", sd.Form)
		}
	})
}

// wildcardFold is EQL's case-insensitive `:` for a pattern with one `*`,
// which matches any run of characters, separators included.
func wildcardFold(pattern, s string) bool {
	pre, suf, _ := strings.Cut(pattern, "*")
	ls := strings.ToLower(s)
	return len(ls) >= len(pre)+len(suf) && strings.HasPrefix(ls, pre) && strings.HasSuffix(ls, suf)
}
