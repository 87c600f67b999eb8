package privdir

import (
	"fmt"

	"github.com/tsclientwatch/tsclientwatch/internal/safefile"
)

// dirSDDL is the security descriptor a new private directory gets on
// Windows: inheritance from %ProgramData% cut (P), full control for
// SYSTEM, Administrators and the running user (SYSTEM itself under
// osqueryd) on the directory and everything created in it (OICI), nobody
// else.
func dirSDDL(user string) string {
	s := "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
	if user != "" && user != safefile.SIDSystem && user != safefile.SIDAdministrators {
		s += "(A;OICI;FA;;;" + user + ")"
	}
	return s
}

// Access mask bits that let a holder change the directory or a file
// in it: add, delete or rename entries, write data, change permissions or
// owner.
const (
	maskWriteData   = 0x2 // FILE_ADD_FILE on a directory
	maskAppendData  = 0x4 // FILE_ADD_SUBDIRECTORY on a directory
	maskWriteEA     = 0x10
	maskDeleteChild = 0x40
	maskWriteAttrs  = 0x100
	maskDelete      = 0x10000
	maskWriteDAC    = 0x40000
	maskWriteOwner  = 0x80000
	maskGenericAll  = 0x10000000
	maskGenericW    = 0x40000000
	maskMaxAllowed  = 0x02000000
	writeMask       = maskWriteData | maskAppendData | maskWriteEA | maskDeleteChild | maskWriteAttrs |
		maskDelete | maskWriteDAC | maskWriteOwner | maskGenericAll | maskGenericW | maskMaxAllowed
)

// Placeholder trustees: CREATOR OWNER and CREATOR GROUP stand for whoever
// creates a child (this process), OWNER RIGHTS for the owner, checked apart.
const (
	sidCreatorOwner = "S-1-3-0"
	sidCreatorGroup = "S-1-3-1"
	sidOwnerRights  = "S-1-3-4"
)

// checkDirSDDL is the Windows rule for the private directory itself, stricter
// than safefile's rule for the directories above a file: owned by SYSTEM,
// Administrators, TrustedInstaller or this process's user, a DACL, and no
// allow entry, inheritable ones included (they pass to the files
// created in it), that lets anyone else write, add, delete or rename
// anything, or change permissions.
func checkDirSDDL(sddl, user string) error {
	sd, err := safefile.ParseSDDL(sddl)
	if err != nil {
		return err
	}
	trusted := func(sid string) bool {
		switch sid {
		case safefile.SIDSystem, safefile.SIDAdministrators, safefile.SIDTrustedInstaller,
			sidCreatorOwner, sidCreatorGroup, sidOwnerRights:
			return true
		}
		return sid != "" && sid == user
	}
	if sid := sd.Owner; sid == sidCreatorOwner || !trusted(sid) {
		return fmt.Errorf("owned by %s, not by SYSTEM, Administrators or this process's user", safefile.SIDName(sid))
	}
	if sd.NullDACL {
		return fmt.Errorf("has no DACL, which lets everyone write it")
	}
	for _, a := range sd.DACL {
		if a.Allows() && a.Mask&writeMask != 0 && !trusted(a.SID) {
			return fmt.Errorf("lets %s write in it (access mask 0x%x, flags %q)", safefile.SIDName(a.SID), a.Mask, a.Flags)
		}
	}
	return nil
}

// icaclsHint is what to run on Windows to make an existing directory safe.
const icaclsHint = `icacls "%s" /inheritance:r /grant:r "*S-1-5-18:(OI)(CI)F" "*S-1-5-32-544:(OI)(CI)F" /T, then icacls "%s" /setowner "*S-1-5-32-544" /T`
