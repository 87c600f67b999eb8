package detector

import (
	"context"
	"strings"
	"testing"
)

func TestMatchDefault(t *testing.T) {
	m := MustNew(DefaultConfig())
	tests := []struct {
		name  string
		ev    Event
		want  bool
		form  Form
		drive string
		share string
	}{
		// Every form real Windows logs use.
		{"kernel 4688/Defend", win(`\Device\Mup\tsclient\C\Tools\mimikatz.exe`), true, FormKernel, "C", `\Tools\mimikatz.exe`},
		{"kernel upper case", win(`\DEVICE\MUP\TSCLIENT\D\A.EXE`), true, FormKernel, "D", `\A.EXE`},
		{"unc sysmon", win(`\\tsclient\c\temp\stack\a.exe`), true, FormUNC, "c", `\temp\stack\a.exe`},
		{"unc mixed case", win(`\\TSClient\C\x.Exe`), true, FormUNC, "C", `\x.Exe`},
		{"long unc", win(`\\?\UNC\tsclient\c\a.exe`), true, FormUNC, "c", `\a.exe`},
		{"nt object unc", win(`\??\UNC\tsclient\e\dir\b.exe`), true, FormUNC, "e", `\dir\b.exe`},
		{"directly below tsclient", win(`\Device\Mup\tsclient\a.exe`), true, FormKernel, "", `\a.exe`},
		{"legacy process_started", Event{Type: TypeStartLegacy, HostOS: OSWindows, Executable: `\\tsclient\c\a.exe`}, true, FormUNC, "c", `\a.exe`},
		{"host os unknown, windows form", Event{Type: TypeStart, Executable: `\\tsclient\c\a.exe`}, true, FormUNC, "c", `\a.exe`},
		// xrdp's FUSE mount on Linux.
		{"xrdp home", lin(`/home/alice/thinclient_drives/C:/tools/run.sh`), true, FormXrdp, "C:", `/tools/run.sh`},
		{"xrdp hidden", lin(`/home/bob/.thinclient_drives/home/x`), true, FormXrdp, "home", `/x`},
		{"xrdp run user", lin(`/run/user/1000/thinclient_drives/D:/a.out`), true, FormXrdp, "D:", `/a.out`},
		{"xrdp default 0.9.14", lin(`/home/u/xrdp_client/C:/bin/tool`), true, FormXrdp, "C:", `/bin/tool`},
		{"xrdp default 0.9.15", lin(`/home/u/xrdp-client/C:/tool`), true, FormXrdp, "C:", `/tool`},
		{"xrdp file in mount root", lin(`/home/u/thinclient_drives/tool`), true, FormXrdp, "", `/tool`},
		{"xrdp host os unknown", Event{Type: TypeStart, Executable: `/home/u/thinclient_drives/C:/t`}, true, FormXrdp, "C:", `/t`},
		{"xrdp on chansrv FUSE", fs(`/home/u/thinclient_drives/C:/t`, "fuse.xrdp-chansrv"), true, FormXrdp, "C:", `/t`},
		{"xrdp on other FUSE", fs(`/home/u/thinclient_drives/C:/t`, "fuse.bindfs"), true, FormXrdp, "C:", `/t`},
		{"xrdp on FUSE without subtype", fs(`/home/u/thinclient_drives/C:/t`, "fuse"), true, FormXrdp, "C:", `/t`},
		{"xrdp truncated path keeps prefix", Event{Type: TypeStart, HostOS: OSLinux, FSType: "fuse.xrdp-chansrv", PathTruncated: true,
			Executable: "/home/u/thinclient_drives/C:/…/d/tool"}, true, FormXrdp, "C:", "/…/d/tool"},

		// Near misses: never a detection.
		{"other MUP server", win(`\Device\Mup\VBoxSvr\share\x.exe`), false, "", "", ""},
		{"other UNC server", win(`\\VBoxSvr\share\x.exe`), false, "", "", ""},
		{"tsclientx", win(`\\tsclientx\c\x.exe`), false, "", "", ""},
		{"kernel tsclientx", win(`\Device\Mup\tsclientx\c\x.exe`), false, "", "", ""},
		{"tsclient.evil.com", win(`\Device\Mup\tsclient.evil.com\c\x.exe`), false, "", "", ""},
		{"unc tsclient.evil.com", win(`\\tsclient.evil.com\c\x.exe`), false, "", "", ""},
		{"Techinline TSClient.exe", win(`C:\Program Files\Techinline\TSClient.exe`), false, "", "", ""},
		{"local folder named tsclient", win(`C:\tsclient\c\x.exe`), false, "", "", ""},
		{"nt object local drive", win(`\??\C:\tsclient\x.exe`), false, "", "", ""},
		{"tsclient only in command line", Event{Type: TypeStart, HostOS: OSWindows, Executable: `C:\Windows\System32\cmd.exe`, CommandLine: `cmd /c \\tsclient\c\a.exe`}, false, "", "", ""},
		{"extension not the suffix", win(`\\tsclient\c\a.exe.txt`), false, "", "", ""},
		{"extension inside name", win(`\\tsclient\c\a.exeb`), false, "", "", ""},
		{"dll not in extensions", win(`\\tsclient\c\a.dll`), false, "", "", ""},
		{"nothing after tsclient", win(`\\tsclient\`), false, "", "", ""},
		{"file event", Event{Type: TypeOther, HostOS: OSWindows, Executable: `\\tsclient\c\a.exe`}, false, "", "", ""},
		{"windows form on linux host", Event{Type: TypeStart, HostOS: OSLinux, Executable: `\\tsclient\c\a.exe`}, false, "", "", ""},
		{"xrdp form on windows host", Event{Type: TypeStart, HostOS: OSWindows, Executable: `/home/u/thinclient_drives/C:/t`}, false, "", "", ""},
		{"xrdp form on macos host", Event{Type: TypeStart, HostOS: OSMacOS, Executable: `/home/u/thinclient_drives/C:/t`}, false, "", "", ""},
		{"xrdp name as file", lin(`/home/u/bin/thinclient_drives`), false, "", "", ""},
		{"xrdp name prefix only", lin(`/home/u/thinclient_drives2/C:/t`), false, "", "", ""},
		{"xrdp name suffix only", lin(`/home/u/my_thinclient_drives/C:/t`), false, "", "", ""},
		{"xrdp mount dir itself", lin(`/home/u/thinclient_drives/`), false, "", "", ""},
		// A plain directory of that name: any local user can make one.
		{"xrdp name on ext4", fs(`/tmp/u/thinclient_drives/C:/t`, "ext4"), false, "", "", ""},
		{"xrdp name on tmpfs", fs(`/tmp/u/thinclient_drives/C:/t`, "tmpfs"), false, "", "", ""},
		{"xrdp name on fuseblk", fs(`/mnt/usb/thinclient_drives/C:/t`, "fuseblk"), false, "", "", ""},
		{"xrdp name on fuse look-alike", fs(`/tmp/u/thinclient_drives/C:/t`, "fusectl"), false, "", "", ""},
		{"xrdp name on bare fuse.", fs(`/tmp/u/thinclient_drives/C:/t`, "fuse."), false, "", "", ""},
		{"linux tsclient dir", lin(`/mnt/tsclient/c/a.exe`), false, "", "", ""},
		{"empty", win(``), false, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := m.Match(&tt.ev)
			if ok != tt.want {
				t.Fatalf("Match(%q) = %v, want %v", tt.ev.Executable, ok, tt.want)
			}
			if !ok {
				return
			}
			if d.Form != tt.form || d.ClientDrive != tt.drive || d.SharePath != tt.share {
				t.Errorf("got form=%q drive=%q share=%q, want %q %q %q", d.Form, d.ClientDrive, d.SharePath, tt.form, tt.drive, tt.share)
			}
			if d.RuleID != RuleID || d.Executable != tt.ev.Executable {
				t.Errorf("detection lost event fields: %+v", d)
			}
		})
	}
}

func TestMatchStrict(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Strict = true
	cfg.Extensions = []string{".exe", ".com"} // ignored in strict mode
	m := MustNew(cfg)
	tests := []struct {
		name string
		ev   Event
		want bool
	}{
		{"kernel exe", win(`\Device\Mup\tsclient\C\Tools\a.exe`), true},
		{"kernel upper", win(`\DEVICE\MUP\TSCLIENT\C\A.EXE`), true},
		{"wildcard may be empty", win(`\Device\Mup\tsclient\.exe`), true},
		{"unc not in query", win(`\\tsclient\c\a.exe`), false},
		{"long unc not in query", win(`\\?\UNC\tsclient\c\a.exe`), false},
		{"com not in query", win(`\Device\Mup\tsclient\C\a.com`), false},
		{"host os must be declared windows", Event{Type: TypeStart, Executable: `\Device\Mup\tsclient\C\a.exe`}, false},
		{"legacy type not in query", Event{Type: TypeStartLegacy, HostOS: OSWindows, Executable: `\Device\Mup\tsclient\C\a.exe`}, false},
		{"xrdp not in query", lin(`/home/u/thinclient_drives/C:/t`), false},
		{"other server", win(`\Device\Mup\VBoxSvr\C\a.exe`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := m.Match(&tt.ev)
			if ok != tt.want {
				t.Fatalf("strict Match(%q) = %v, want %v", tt.ev.Executable, ok, tt.want)
			}
			if ok && d.Form != FormKernel {
				t.Errorf("form = %q, want kernel", d.Form)
			}
		})
	}
	if !m.Info().Strict {
		t.Error("Info().Strict = false for a strict matcher")
	}
}

func TestExtensionsAndMountsConfigurable(t *testing.T) {
	m := MustNew(Config{Extensions: []string{".EXE", ".ps1", ".bat"}, XrdpMountNames: []string{"rdp_drives"}})
	for _, tt := range []struct {
		path string
		want bool
	}{
		{`\\tsclient\c\a.exe`, true},
		{`\\tsclient\c\run.PS1`, true},
		{`\\tsclient\c\x.bat`, true},
		{`\\tsclient\c\x.dll`, false},
		{`/home/u/rdp_drives/C:/t`, true},
		{`/home/u/thinclient_drives/C:/t`, false},
	} {
		ev := Event{Type: TypeStart, Executable: tt.path}
		if _, ok := m.Match(&ev); ok != tt.want {
			t.Errorf("Match(%q) = %v, want %v", tt.path, ok, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		cfg     Config
		wantErr string
	}{
		{DefaultConfig(), ""},
		{Config{Extensions: []string{"exe"}}, `detector.extensions[0]: "exe" is not a file extension`},
		{Config{Extensions: []string{".exe", "."}}, `detector.extensions[1]`},
		{Config{Extensions: []string{`.a\b`}}, `detector.extensions[0]`},
		{Config{XrdpMountNames: []string{"a/b"}}, `detector.xrdp_mount_names[0]: "a/b" is not a directory name`},
		{Config{XrdpMountNames: []string{"ok", ".."}}, `detector.xrdp_mount_names[1]`},
	} {
		err := tt.cfg.Validate()
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("Validate(%+v) = %v, want nil", tt.cfg, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Validate(%+v) = %v, want error containing %q", tt.cfg, err, tt.wantErr)
		}
		if _, err := New(tt.cfg); err == nil {
			t.Errorf("New(%+v) accepted an invalid config", tt.cfg)
		}
	}
}

func TestDetectBatch(t *testing.T) {
	m := MustNew(DefaultConfig())
	batch := []Event{
		win(`C:\Windows\notepad.exe`),
		win(`\\tsclient\c\a.exe`),
		win(`\Device\Mup\VBoxSvr\s\a.exe`),
		win(`\Device\Mup\tsclient\D\b.exe`),
	}
	prior := []Detection{{RuleID: "keep"}}
	out, err := m.Detect(context.Background(), batch, prior)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || out[0].RuleID != "keep" || out[1].Executable != batch[1].Executable || out[2].Executable != batch[3].Executable {
		t.Fatalf("Detect appended %+v", out)
	}
	var _ Detector = m
}

func TestRuleMetadata(t *testing.T) {
	r := DefaultRule()
	if r.ID != "4fe9d835-40e1-452d-8230-17c147cafad8" || r.Severity != "high" || r.RiskScore != 73 ||
		r.Tactic.ID != "TA0008" || r.Technique.ID != "T1021" || r.Subtechnique.ID != "T1021.001" {
		t.Fatalf("unexpected rule metadata %+v", r)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	m := MustNew(DefaultConfig())
	events := []Event{
		win(`C:\Windows\System32\svchost.exe`),
		win(`\Device\Mup\VBoxSvr\share\x.exe`),
		lin(`/usr/bin/bash`),
		win(`\\tsclient\c\a.exe`), // a match returns a value: still no heap allocation
	}
	for i := range events {
		ev := &events[i]
		if n := testing.AllocsPerRun(100, func() { m.Match(ev) }); n != 0 {
			t.Errorf("Match(%q) allocates %v times", ev.Executable, n)
		}
	}
}

func win(p string) Event { return Event{Type: TypeStart, HostOS: OSWindows, Executable: p} }
func lin(p string) Event { return Event{Type: TypeStart, HostOS: OSLinux, Executable: p} }
func fs(p, fsType string) Event {
	return Event{Type: TypeStart, HostOS: OSLinux, Executable: p, FSType: fsType}
}

// TestFSTypeDoesNotTouchWindows: the filesystem type only gates the xrdp
// form; a Windows path is judged as before whatever it says.
func TestFSTypeDoesNotTouchWindows(t *testing.T) {
	m := MustNew(DefaultConfig())
	ev := Event{Type: TypeStart, HostOS: OSWindows, Executable: `\\tsclient\c\a.exe`, FSType: "ntfs"}
	if _, ok := m.Match(&ev); !ok {
		t.Errorf("Windows path with FSType %q not detected", ev.FSType)
	}
}

func TestIsFUSE(t *testing.T) {
	for in, want := range map[string]bool{
		"fuse": true, "fuse.xrdp-chansrv": true, "fuse.bindfs": true, "fuse.sshfs": true,
		"": false, "fuse.": false, "fuseblk": false, "fusectl": false, "ext4": false, "FUSE": false, "xfuse.x": false,
	} {
		if got := IsFUSE(in); got != want {
			t.Errorf("IsFUSE(%q) = %v, want %v", in, got, want)
		}
	}
}
