package safefile

import (
	"fmt"
	"strings"
)

// Checker is the Windows rule, written over SDDL so that it runs, and is
// tested, anywhere: a file may be trusted when nobody but SYSTEM,
// Administrators, TrustedInstaller or this process's own user could change
// it, or rename or replace it in any directory up to the volume root.
//
// For the file and each directory:
//   - the owner must be one of those (an owner may always rewrite the DACL,
//     so an attacker-owned directory is refused whatever it grants);
//   - the DACL must exist (a null DACL grants everyone everything).
//
// For the file, no allow ACE that applies to it (not inherit-only) may give
// anyone else write or append data, DELETE, WRITE_DAC, WRITE_OWNER,
// GENERIC_WRITE or GENERIC_ALL.
//
// For a directory the same holds for DELETE, FILE_DELETE_CHILD, WRITE_DAC,
// WRITE_OWNER and GENERIC_ALL, but others may be allowed to add files and
// subdirectories (FILE_ADD_FILE, FILE_ADD_SUBDIRECTORY, GENERIC_WRITE):
// that cannot remove, rename or change an existing entry, and anything
// they add is theirs and fails the owner check. This is the counterpart of
// the sticky bit the Unix check allows, and Windows needs it: C:\ lets
// Authenticated Users, and C:\ProgramData lets Users, create entries.
//
// The running user counts as trusted as on Unix: a plugin or configuration
// of one's own changes nothing when one runs it oneself, and SYSTEM (the
// extension under osqueryd) and an elevated administrator trust only
// SYSTEM, Administrators and TrustedInstaller besides themselves. Deny ACEs
// are ignored, which can only make the check stricter.
type Checker struct {
	// User is the SID of the account this process runs as.
	User string
	// Security returns the SDDL (owner and DACL) of a directory, by name.
	Security func(dir string) (string, error)
	// Name returns a readable account name for a SID; nil means SIDName.
	Name func(sid string) string
}

func (c Checker) trusted(sid string) bool {
	switch sid {
	case SIDSystem, SIDAdministrators, SIDTrustedInstaller:
		return true
	}
	return sid != "" && sid == c.User
}

// placeholder reports SIDs that stand for no one in an ACE that applies to
// the object itself: CREATOR OWNER and CREATOR GROUP only matter when
// inherited, and OWNER RIGHTS is the owner, checked separately.
func placeholder(sid string) bool {
	return sid == sidCreatorOwner || sid == sidCreatorGroup || sid == sidOwnerRights
}

func (c Checker) name(sid string) string {
	if c.Name != nil {
		if n := c.Name(sid); n != "" {
			return n
		}
	}
	return SIDName(sid)
}

// Check checks the file at path, whose security descriptor is fileSDDL
// (read from its open handle), then every directory above path up to the
// volume root, whose descriptors come from c.Security. path should be the
// file's final path (GetFinalPathNameByHandle), with links resolved.
func (c Checker) Check(path, fileSDDL string) error {
	if err := c.checkOne(path, fileSDDL, false, path); err != nil {
		return err
	}
	for _, dir := range windowsParents(path) {
		s, err := c.Security(dir)
		if err != nil {
			return fmt.Errorf("read the owner and permissions of directory %s: %w (refusing %s)", dir, err, path)
		}
		if err := c.checkOne(dir, s, true, path); err != nil {
			return err
		}
	}
	return nil
}

// forbidden returns the rights in mask that others may not hold on a file
// or directory.
func forbidden(mask uint32, isDir bool) uint32 {
	bad := uint32(fileDelete | writeDAC | writeOwner | genericAll | fileDeleteChild)
	if !isDir {
		bad |= fileWriteData | fileAppendData | genericWrite
	}
	return mask & bad
}

var rightNames = []struct {
	bit  uint32
	name string
}{
	{genericWrite, "write (GENERIC_WRITE)"},
	{fileWriteData, "write data"},
	{fileAppendData, "append data"},
	{fileDelete, "delete"},
	{fileDeleteChild, "delete child entries"},
	{writeDAC, "change permissions (WRITE_DAC)"},
	{writeOwner, "take ownership (WRITE_OWNER)"},
}

// describeRights names the forbidden rights bad of an ACE whose whole mask
// is mask.
func describeRights(mask, bad uint32) string {
	if mask&fileAllAccess == fileAllAccess || mask&genericAll != 0 {
		return "full control"
	}
	m := bad
	var parts []string
	for _, r := range rightNames {
		if m&r.bit != 0 {
			parts = append(parts, r.name)
		}
	}
	return strings.Join(parts, ", ")
}

func (c Checker) checkOne(obj, sddl string, isDir bool, file string) error {
	what, harm := obj, "change it"
	if isDir {
		what, harm = "directory "+obj, "replace "+file+" in it"
	}
	sd, err := ParseSDDL(sddl)
	if err != nil {
		return fmt.Errorf("%s: %w (refusing %s)", what, err, file)
	}
	user := "this process's user"
	if c.User != "" {
		user += " " + c.name(c.User)
	}
	if sd.Owner == "" {
		return fmt.Errorf("%s: its owner could not be read (refusing %s)", what, file)
	}
	if !c.trusted(sd.Owner) {
		return fmt.Errorf("%s is owned by %s, not SYSTEM, Administrators, TrustedInstaller or %s, who could %s (take it over: icacls \"%s\" /setowner *S-1-5-32-544 /T, then reset its permissions as docs/security.md shows, or delete it and install again)",
			what, c.name(sd.Owner), user, harm, obj)
	}
	if sd.NullDACL {
		return fmt.Errorf("%s has no DACL, which lets everyone %s (want permissions for SYSTEM and Administrators only: see docs/security.md)", what, harm)
	}
	for _, a := range sd.DACL {
		if !a.Allows() || a.InheritOnly() || placeholder(a.SID) || c.trusted(a.SID) {
			continue
		}
		if bad := forbidden(a.Mask, isDir); bad != 0 {
			return fmt.Errorf("%s lets %s %s, so they could %s (want write access for SYSTEM and Administrators only: see docs/security.md)",
				what, c.name(a.SID), describeRights(a.Mask, bad), harm)
		}
	}
	return nil
}

// windowsParents returns the directories above a Windows path, nearest
// first, up to and including the volume root: C:\a\b\f gives C:\a\b, C:\a
// and C:\. A \\?\ prefix is dropped; a UNC path stops at \\server\share\.
func windowsParents(p string) []string {
	p = strings.ReplaceAll(p, "/", `\`)
	switch {
	case strings.HasPrefix(p, `\\?\UNC\`):
		p = `\\` + p[len(`\\?\UNC\`):]
	case strings.HasPrefix(p, `\\?\`):
		p = p[len(`\\?\`):]
	}
	var root string
	switch {
	case len(p) >= 3 && p[1] == ':' && p[2] == '\\':
		root = p[:3]
	case strings.HasPrefix(p, `\\`):
		parts := strings.SplitN(p[2:], `\`, 3)
		if len(parts) < 3 {
			return nil
		}
		root = `\\` + parts[0] + `\` + parts[1] + `\`
	default:
		return nil
	}
	rest := strings.Trim(p[len(root):], `\`)
	if rest == "" {
		return nil
	}
	elems := strings.Split(rest, `\`)
	var out []string
	for i := len(elems) - 1; i >= 1; i-- {
		out = append(out, root+strings.Join(elems[:i], `\`))
	}
	return append(out, root)
}

// displayPath turns a final path (\\?\C:\x, \\?\UNC\s\x) into the form
// users write.
func displayPath(p string) string {
	switch {
	case strings.HasPrefix(p, `\\?\UNC\`):
		return `\\` + p[len(`\\?\UNC\`):]
	case strings.HasPrefix(p, `\\?\`):
		return p[len(`\\?\`):]
	}
	return p
}
