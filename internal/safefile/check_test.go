package safefile

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Recorded security descriptors (owner and DACL, as GetSecurityInfo and
// ConvertSecurityDescriptorToStringSecurityDescriptor give them) of stock
// Windows 10/11 directories, and of what installs and attackers make.
const (
	ti    = SIDTrustedInstaller
	evil  = "S-1-5-21-1004336348-1177238915-682003330-1001" // a local user on the RDS host
	alice = "S-1-5-21-1004336348-1177238915-682003330-1002" // another one
	dom   = "S-1-5-21-1004336348-1177238915-682003330-513"  // Domain Users, a group

	// C:\ : Authenticated Users may create folders in it (LC = 0x4, this
	// folder only) and get Modify on what they create (inherit-only).
	sddlDriveRoot = "O:" + ti + "G:" + ti + "D:PAI(A;OICI;FA;;;BA)(A;OICI;FA;;;SY)(A;OICI;0x1200a9;;;BU)(A;OICIIO;SDGXGWGR;;;AU)(A;;LC;;;AU)"
	// C:\ProgramData: Users may add files and folders (CI: this folder
	// and subfolders), and the creator owns what it makes.
	sddlProgramData = "O:SYG:SYD:PAI(A;OICIIO;GA;;;CO)(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)(A;CI;DCLCRPCR;;;BU)"
	// C:\Program Files.
	sddlProgramFiles = "O:" + ti + "G:" + ti + "D:PAI(A;;FA;;;" + ti + ")(A;CIIO;GA;;;" + ti + ")(A;;0x1301bf;;;SY)(A;OICIIO;GA;;;SY)(A;;0x1301bf;;;BA)(A;OICIIO;GA;;;BA)(A;;0x1200a9;;;BU)(A;OICIIO;GXGR;;;BU)(A;OICIIO;GA;;;CO)(A;;0x1200a9;;;AC)(A;OICIIO;GXGR;;;AC)(A;;0x1200a9;;;S-1-15-2-2)(A;OICIIO;GXGR;;;S-1-15-2-2)"
	// C:\Program Files\tsclientwatch, made by an elevated administrator
	// (owner Administrators), everything inherited.
	sddlInstallDir = "O:BAG:" + dom + "D:AI(A;ID;FA;;;" + ti + ")(A;CIIOID;GA;;;" + ti + ")(A;ID;FA;;;SY)(A;OICIIOID;GA;;;SY)(A;ID;FA;;;BA)(A;OICIIOID;GA;;;BA)(A;ID;0x1200a9;;;BU)(A;OICIIOID;GXGR;;;BU)(A;OICIIOID;GA;;;CO)(A;ID;0x1200a9;;;AC)(A;OICIIOID;GXGR;;;AC)"
	// A file an elevated administrator copied into it.
	sddlInstalledFile = "O:BAG:" + dom + "D:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;0x1200a9;;;BU)(A;ID;0x1200a9;;;AC)"
	// C:\ProgramData\tsclientwatch created by the attacker first (E1):
	// owner evil, who also got full control through CREATOR OWNER.
	sddlPlantedDir = "O:" + evil + "G:" + dom + "D:AI(A;ID;FA;;;" + evil + ")(A;OICIIOID;GA;;;CO)(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)(A;OICIID;0x1200a9;;;BU)(A;CIID;DCLCRPCR;;;BU)"
	// ...and the config.yaml in it, naming the attacker's plugin.
	sddlPlantedFile = "O:" + evil + "G:" + dom + "D:AI(A;ID;FA;;;" + evil + ")(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;0x1200a9;;;BU)"
	// The same directory after docs/security.md's icacls steps: owner
	// Administrators, inheritance removed, SYSTEM and Administrators only.
	sddlLockedDir  = "O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
	sddlLockedFile = "O:BAG:SYD:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)"
	// icacls /setowner and /inheritance:r without /reset: the ACE the
	// attacker added as owner stays.
	sddlLockedButExplicit = "O:BAG:SYD:PAI(A;OICI;FA;;;" + evil + ")(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
	// C:\ProgramData\tsclientwatch made by an elevated administrator with
	// plain mkdir: inherited, Users may still add entries (allowed).
	sddlAdminMkdir = "O:BAG:" + dom + "D:AI(A;ID;FA;;;BA)(A;OICIIOID;GA;;;CO)(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)(A;OICIID;0x1200a9;;;BU)(A;CIID;DCLCRPCR;;;BU)"
	sddlAdminFile  = "O:BAG:" + dom + "D:AI(A;ID;FA;;;BA)(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;0x1200a9;;;BU)"
	// C:\Users and a user's profile.
	sddlUsers   = "O:SYG:SYD:PAI(D;;CC;;;WD)(A;OICIIO;FA;;;CO)(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;;0x1200a9;;;BU)(A;OICIIO;GXGR;;;BU)(A;;0x1200a9;;;WD)(A;OICIIO;GXGR;;;WD)"
	sddlProfile = "O:SYG:SYD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;" + evil + ")"
	sddlOwnFile = "O:" + evil + "G:" + dom + "D:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;FA;;;" + evil + ")"
)

// tree maps directories to their recorded descriptors.
type tree map[string]string

func (t tree) security(dir string) (string, error) {
	if s, ok := t[dir]; ok {
		return s, nil
	}
	return "", errors.New("access is denied")
}

var stock = tree{
	`C:\`:              sddlDriveRoot,
	`C:\ProgramData`:   sddlProgramData,
	`C:\Program Files`: sddlProgramFiles,
	`C:\Users`:         sddlUsers,
}

func with(base tree, extra tree) tree {
	t := tree{}
	for k, v := range base {
		t[k] = v
	}
	for k, v := range extra {
		t[k] = v
	}
	return t
}

// TestChecker: review E1. The default-path configuration an unprivileged
// user planted under %ProgramData% is refused (by owner, whatever the
// DACL), and so is a plugin in the user's profile; what an administrator
// installs, in Program Files or in a locked %ProgramData% directory, is
// accepted on stock Windows directories.
func TestChecker(t *testing.T) {
	t.Parallel()
	const cfg = `C:\ProgramData\tsclientwatch\config.yaml`
	for _, tc := range []struct {
		name string
		user string
		path string
		file string
		dirs tree
		want string // substring of the error; "" accepts
	}{
		{"planted config (E1), checked as SYSTEM", SIDSystem, cfg, sddlPlantedFile,
			with(stock, tree{`C:\ProgramData\tsclientwatch`: sddlPlantedDir}),
			`C:\ProgramData\tsclientwatch\config.yaml is owned by ` + evil + `, not SYSTEM, Administrators, TrustedInstaller or this process's user SYSTEM (S-1-5-18), who could change it`},
		{"admin's config in the planted directory", SIDSystem, cfg, sddlLockedFile,
			with(stock, tree{`C:\ProgramData\tsclientwatch`: sddlPlantedDir}),
			`directory C:\ProgramData\tsclientwatch is owned by ` + evil + `, not SYSTEM, Administrators, TrustedInstaller or this process's user SYSTEM (S-1-5-18), who could replace ` + cfg + ` in it (take it over: icacls "C:\ProgramData\tsclientwatch" /setowner *S-1-5-32-544 /T`},
		{"owner taken over, attacker's explicit ACE left", SIDSystem, cfg, sddlLockedFile,
			with(stock, tree{`C:\ProgramData\tsclientwatch`: sddlLockedButExplicit}),
			`directory C:\ProgramData\tsclientwatch lets ` + evil + ` full control, so they could replace`},
		{"locked as docs/security.md shows", SIDSystem, cfg, sddlLockedFile,
			with(stock, tree{`C:\ProgramData\tsclientwatch`: sddlLockedDir}), ""},
		{"locked, checked as an elevated administrator", alice, cfg, sddlLockedFile,
			with(stock, tree{`C:\ProgramData\tsclientwatch`: sddlLockedDir}), ""},
		{"administrator's plain mkdir under ProgramData", SIDSystem, cfg, sddlAdminFile,
			with(stock, tree{`C:\ProgramData\tsclientwatch`: sddlAdminMkdir}), ""},
		{"plugin installed in Program Files", SIDSystem, `C:\Program Files\tsclientwatch\plugin.exe`, sddlInstalledFile,
			with(stock, tree{`C:\Program Files\tsclientwatch`: sddlInstallDir}), ""},
		{"plugin in the attacker's profile, run by SYSTEM", SIDSystem, `C:\Users\evil\p.exe`, sddlOwnFile,
			with(stock, tree{`C:\Users\evil`: sddlProfile}), `C:\Users\evil\p.exe is owned by ` + evil},
		{"plugin in one's own profile, run by oneself", evil, `C:\Users\evil\p.exe`, sddlOwnFile,
			with(stock, tree{`C:\Users\evil`: sddlProfile}), ""},
		{"profile of another user", alice, `C:\Users\evil\p.exe`, sddlLockedFile,
			with(stock, tree{`C:\Users\evil`: sddlProfile}), `directory C:\Users\evil lets ` + evil + ` full control`},
		{"file Users may write", SIDSystem, `C:\Program Files\tsclientwatch\plugin.exe`,
			"O:BAD:AI(A;;0x1301bf;;;BU)(A;ID;FA;;;SY)(A;ID;FA;;;BA)",
			with(stock, tree{`C:\Program Files\tsclientwatch`: sddlInstallDir}),
			`lets BUILTIN\Users (S-1-5-32-545) write data, append data, delete, so they could change it`},
		{"file whose permissions Everyone may change", SIDSystem, `C:\Program Files\tsclientwatch\plugin.exe`,
			"O:BAD:(A;;RCWD;;;WD)(A;;FA;;;SY)",
			with(stock, tree{`C:\Program Files\tsclientwatch`: sddlInstallDir}),
			`lets Everyone (S-1-1-0) change permissions (WRITE_DAC)`},
		{"file anyone may take", SIDSystem, cfg, "O:BAD:(A;;0x80000;;;AU)",
			with(stock, tree{`C:\ProgramData\tsclientwatch`: sddlLockedDir}), `lets Authenticated Users (S-1-5-11) take ownership (WRITE_OWNER)`},
		{"file with a null DACL", SIDSystem, cfg, "O:BAD:NO_ACCESS_CONTROL",
			with(stock, tree{`C:\ProgramData\tsclientwatch`: sddlLockedDir}), "has no DACL"},
		{"file without a DACL section", SIDSystem, cfg, "O:BA",
			with(stock, tree{`C:\ProgramData\tsclientwatch`: sddlLockedDir}), "has no DACL"},
		{"file with an empty DACL", SIDSystem, cfg, "O:BAD:P",
			with(stock, tree{`C:\ProgramData\tsclientwatch`: sddlLockedDir}), ""},
		{"conditional grant counts", SIDSystem, cfg, `O:BAD:(A;;FA;;;SY)(XA;;FW;;;WD;(@User.Title=="PM"))`,
			with(stock, tree{`C:\ProgramData\tsclientwatch`: sddlLockedDir}), "lets Everyone (S-1-1-0) write data, append data"},
		{"deny and inherit-only entries grant nothing", SIDSystem, cfg, "O:BAD:(D;;FA;;;WD)(A;OICIIO;GA;;;WD)(A;;FA;;;SY)",
			with(stock, tree{`C:\ProgramData\tsclientwatch`: sddlLockedDir}), ""},
		{"directory others may delete entries of", SIDSystem, cfg, sddlLockedFile,
			with(stock, tree{`C:\ProgramData\tsclientwatch`: "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;;DT;;;BU)"}),
			`directory C:\ProgramData\tsclientwatch lets BUILTIN\Users (S-1-5-32-545) delete child entries, so they could replace`},
		{"directory others may rename", SIDSystem, cfg, sddlLockedFile,
			with(stock, tree{`C:\ProgramData\tsclientwatch`: "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;;SD;;;IU)"}),
			`directory C:\ProgramData\tsclientwatch lets INTERACTIVE (S-1-5-4) delete`},
		{"a parent directory the check cannot read", SIDSystem, `D:\tools\plugin.exe`, sddlInstalledFile,
			with(stock, tree{`D:\tools`: sddlLockedDir}), `read the owner and permissions of directory D:\: access is denied`},
		{"UNC path stops at the share", SIDSystem, `\\?\UNC\fs1\tools\tsclientwatch\plugin.exe`, sddlInstalledFile,
			tree{`\\fs1\tools\tsclientwatch`: sddlLockedDir, `\\fs1\tools\`: sddlLockedDir}, ""},
		{"attacker-owned share root", SIDSystem, `\\fs1\tools\plugin.exe`, sddlInstalledFile,
			tree{`\\fs1\tools\`: sddlPlantedDir}, `directory \\fs1\tools\ is owned by ` + evil},
		{"no owner", SIDSystem, cfg, "D:(A;;FA;;;SY)",
			with(stock, tree{`C:\ProgramData\tsclientwatch`: sddlLockedDir}), "its owner could not be read"},
		{"unparsable descriptor", SIDSystem, cfg, "garbage",
			with(stock, tree{`C:\ProgramData\tsclientwatch`: sddlLockedDir}), `SDDL "garbage"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Checker{User: tc.user, Security: tc.dirs.security}
			err := c.Check(tc.path, tc.file)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted, want an error saying %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q\nwant it to say %q", err, tc.want)
			}
		})
	}
}

func TestParseSDDL(t *testing.T) {
	t.Parallel()
	sd, err := ParseSDDL(sddlDriveRoot + "S:P(ML;OINPIO;NW;;;HI)")
	if err != nil {
		t.Fatal(err)
	}
	want := SecurityDescriptor{Owner: ti, DACL: []ACE{
		{"A", "OICI", 0x1f01ff, SIDAdministrators},
		{"A", "OICI", 0x1f01ff, SIDSystem},
		{"A", "OICI", 0x1200a9, "S-1-5-32-545"},
		{"A", "OICIIO", 0x10000 | 0x20000000 | 0x40000000 | 0x80000000, "S-1-5-11"},
		{"A", "", 0x4, "S-1-5-11"},
	}}
	if !reflect.DeepEqual(sd, want) {
		t.Errorf("got  %+v\nwant %+v", sd, want)
	}
	for _, bad := range []string{"O:BAD:(A;;FA;;SY)", "O:BAD:(A;;ZZ;;;SY)", "O:BAD:(A;;FA;;;SY", "O:BAO:SY", "X:1"} {
		if _, err := ParseSDDL(bad); err == nil {
			t.Errorf("ParseSDDL(%q) accepted", bad)
		}
	}
}

func TestWindowsParents(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]string{
		`C:\ProgramData\tsclientwatch\config.yaml`:      {`C:\ProgramData\tsclientwatch`, `C:\ProgramData`, `C:\`},
		`\\?\C:\Program Files\tsclientwatch\plugin.exe`: {`C:\Program Files\tsclientwatch`, `C:\Program Files`, `C:\`},
		`\\?\UNC\fs1\share\dir\f.yaml`:                  {`\\fs1\share\dir`, `\\fs1\share\`},
		`C:\f.yaml`:                                     {`C:\`},
		`relative\f.yaml`:                               nil,
	} {
		if got := windowsParents(in); !reflect.DeepEqual(got, want) {
			t.Errorf("windowsParents(%q) = %q, want %q", in, got, want)
		}
	}
}
