package safefile

import (
	"fmt"
	"strconv"
	"strings"
)

// SecurityDescriptor is the part of a Windows security descriptor the
// checks need: the owner and the DACL, as ParseSDDL reads them from SDDL
// (the string form ConvertSecurityDescriptorToStringSecurityDescriptor
// writes, and that x/sys/windows' SECURITY_DESCRIPTOR.String returns).
type SecurityDescriptor struct {
	Owner string // SID ("S-1-5-18"); well-known aliases are expanded
	// NullDACL is true when the descriptor has no DACL at all, which
	// grants everyone full access (not the same as an empty DACL, which
	// grants nobody anything).
	NullDACL bool
	DACL     []ACE
}

// ACE is one access control entry.
type ACE struct {
	Type  string // "A" allow, "D" deny, "OA", "XA", "ZA"... as in SDDL
	Flags string // SDDL flags, e.g. "OICIIO"
	Mask  uint32 // access mask, generic bits as written
	SID   string // trustee; aliases expanded where they are well known
}

// Allows reports whether the ACE grants access (allow, object-allow and
// the callback forms; a callback's condition is ignored, so a conditional
// grant counts as a grant).
func (a ACE) Allows() bool {
	switch a.Type {
	case "A", "OA", "XA", "ZA":
		return true
	}
	return false
}

// InheritOnly reports whether the ACE only passes to children (IO) and
// grants nothing on the object itself.
func (a ACE) InheritOnly() bool { return hasFlag(a.Flags, "IO") }

func hasFlag(flags, f string) bool {
	for i := 0; i+2 <= len(flags); i += 2 {
		if flags[i:i+2] == f {
			return true
		}
	}
	return false
}

// Well-known SIDs the checks name.
const (
	SIDSystem           = "S-1-5-18"
	SIDAdministrators   = "S-1-5-32-544"
	SIDTrustedInstaller = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
	sidCreatorOwner     = "S-1-3-0"
	sidCreatorGroup     = "S-1-3-1"
	sidOwnerRights      = "S-1-3-4"
)

// sidAliases expands the SDDL aliases of machine-independent SIDs. Domain-
// relative aliases (DA, DU, LA...) stay as written: they are never trusted.
var sidAliases = map[string]string{
	"AN": "S-1-5-7", "AO": "S-1-5-32-548", "AU": "S-1-5-11", "BA": SIDAdministrators, "BG": "S-1-5-32-546",
	"BO": "S-1-5-32-551", "BU": "S-1-5-32-545", "CG": sidCreatorGroup, "CO": sidCreatorOwner, "ED": "S-1-5-9",
	"IU": "S-1-5-4", "LS": "S-1-5-19", "NS": "S-1-5-20", "NU": "S-1-5-2", "OW": sidOwnerRights, "PS": "S-1-5-10",
	"PU": "S-1-5-32-547", "RC": "S-1-5-12", "RD": "S-1-5-32-555", "RU": "S-1-5-32-554", "SO": "S-1-5-32-549",
	"SU": "S-1-5-6", "SY": SIDSystem, "WD": "S-1-1-0", "WR": "S-1-5-33", "AC": "S-1-15-2-1",
	"RM": "S-1-5-32-580", "RA": "S-1-5-32-575", "MU": "S-1-5-32-558", "LU": "S-1-5-32-559", "IS": "S-1-5-32-568",
	"NO": "S-1-5-32-556", "CY": "S-1-5-32-569", "ER": "S-1-5-32-573", "HA": "S-1-5-32-578", "LW": "S-1-16-4096",
	"ME": "S-1-16-8192", "HI": "S-1-16-12288", "SI": "S-1-16-16384",
}

// sidNames names the SIDs an error is likely to mention.
var sidNames = map[string]string{
	"S-1-1-0": "Everyone", "S-1-5-11": "Authenticated Users", "S-1-5-32-545": "BUILTIN\\Users",
	"S-1-5-4": "INTERACTIVE", "S-1-5-32-555": "BUILTIN\\Remote Desktop Users", "S-1-5-7": "ANONYMOUS LOGON",
	"S-1-5-32-546": "BUILTIN\\Guests", "S-1-5-32-547": "BUILTIN\\Power Users", "S-1-15-2-1": "ALL APPLICATION PACKAGES",
	"S-1-15-2-2": "ALL RESTRICTED APPLICATION PACKAGES", "S-1-5-19": "LOCAL SERVICE", "S-1-5-20": "NETWORK SERVICE",
	SIDSystem: "SYSTEM", SIDAdministrators: "BUILTIN\\Administrators", SIDTrustedInstaller: "TrustedInstaller",
}

// rightCodes are SDDL's two-letter access rights. On files the directory-
// service names stand for file rights with the same bits: DC is
// FILE_WRITE_DATA (add file), LC FILE_APPEND_DATA (add subdirectory), DT
// FILE_DELETE_CHILD, and so on.
var rightCodes = map[string]uint32{
	"GA": genericAll, "GR": 0x80000000, "GW": genericWrite, "GX": 0x20000000,
	"RC": 0x20000, "SD": fileDelete, "WD": writeDAC, "WO": writeOwner,
	"RP": 0x10, "WP": 0x20, "CC": 0x1, "DC": fileWriteData, "LC": fileAppendData, "SW": 0x8, "LO": 0x80, "DT": fileDeleteChild, "CR": 0x100,
	"FA": 0x1f01ff, "FR": 0x120089, "FW": 0x120116, "FX": 0x1200a0,
	"KA": 0xf003f, "KR": 0x20019, "KW": 0x20006, "KX": 0x20019,
	"NR": 0x1, "NW": 0x2, "NX": 0x4,
}

// Access rights that matter to the checks.
const (
	fileWriteData   = 0x2     // FILE_WRITE_DATA; on a directory FILE_ADD_FILE
	fileAppendData  = 0x4     // FILE_APPEND_DATA; on a directory FILE_ADD_SUBDIRECTORY
	fileDeleteChild = 0x40    // FILE_DELETE_CHILD
	fileDelete      = 0x10000 // DELETE
	writeDAC        = 0x40000
	writeOwner      = 0x80000
	genericWrite    = 0x40000000
	genericAll      = 0x10000000
	fileAllAccess   = 0x1f01ff // FILE_ALL_ACCESS, "F" in icacls
)

// ParseSDDL reads the owner and DACL of an SDDL string. The group and SACL
// are skipped; Owner is "" and NullDACL true when their sections are
// absent.
func ParseSDDL(s string) (SecurityDescriptor, error) {
	sd := SecurityDescriptor{NullDACL: true}
	rest := strings.TrimSpace(s)
	seen := map[byte]bool{}
	for rest != "" {
		if len(rest) < 2 || rest[1] != ':' || !strings.ContainsRune("OGDS", rune(rest[0])) {
			return sd, fmt.Errorf("SDDL %q: want O:, G:, D: or S: at %q", s, rest)
		}
		tag := rest[0]
		if seen[tag] {
			return sd, fmt.Errorf("SDDL %q: %c: appears twice", s, tag)
		}
		seen[tag] = true
		body, next := section(rest[2:])
		rest = next
		switch tag {
		case 'O':
			sd.Owner = expandSID(body)
		case 'D':
			dacl, null, err := parseACL(body)
			if err != nil {
				return sd, fmt.Errorf("SDDL %q: DACL: %w", s, err)
			}
			sd.DACL, sd.NullDACL = dacl, null
		}
	}
	return sd, nil
}

// section returns the body of one SDDL section and what follows it: the
// next "X:" outside parentheses.
func section(s string) (body, rest string) {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ':':
			if depth == 0 && i >= 1 {
				return s[:i-1], s[i-1:]
			}
		}
	}
	return s, ""
}

// parseACL reads "flags(ace)(ace)...". NO_ACCESS_CONTROL is a null DACL.
func parseACL(s string) (aces []ACE, null bool, err error) {
	i := strings.IndexByte(s, '(')
	flags := s
	if i >= 0 {
		flags = s[:i]
	}
	if strings.Contains(flags, "NO_ACCESS_CONTROL") {
		return nil, true, nil
	}
	aces = []ACE{}
	for i >= 0 && i < len(s) {
		if s[i] != '(' {
			return nil, false, fmt.Errorf("want ( at %q", s[i:])
		}
		depth, j := 0, i
		for ; j < len(s); j++ {
			if s[j] == '(' {
				depth++
			} else if s[j] == ')' {
				depth--
				if depth == 0 {
					break
				}
			}
		}
		if j == len(s) {
			return nil, false, fmt.Errorf("unterminated ACE %q", s[i:])
		}
		ace, err := parseACE(s[i+1 : j])
		if err != nil {
			return nil, false, err
		}
		aces = append(aces, ace)
		i = j + 1
	}
	return aces, false, nil
}

// parseACE reads "type;flags;rights;object;inherit object;sid[;condition]".
func parseACE(s string) (ACE, error) {
	f := strings.SplitN(s, ";", 7)
	if len(f) < 6 {
		return ACE{}, fmt.Errorf("ACE %q: want 6 fields", s)
	}
	mask, err := parseRights(f[2])
	if err != nil {
		return ACE{}, fmt.Errorf("ACE %q: %w", s, err)
	}
	return ACE{Type: f[0], Flags: f[1], Mask: mask, SID: expandSID(f[5])}, nil
}

func parseRights(r string) (uint32, error) {
	if strings.HasPrefix(r, "0x") || strings.HasPrefix(r, "0X") {
		n, err := strconv.ParseUint(r[2:], 16, 32)
		return uint32(n), err
	}
	if r != "" && r[0] >= '0' && r[0] <= '9' {
		n, err := strconv.ParseUint(r, 0, 32)
		return uint32(n), err
	}
	if len(r)%2 != 0 {
		return 0, fmt.Errorf("rights %q", r)
	}
	var m uint32
	for i := 0; i < len(r); i += 2 {
		v, ok := rightCodes[r[i:i+2]]
		if !ok {
			return 0, fmt.Errorf("unknown right %q", r[i:i+2])
		}
		m |= v
	}
	return m, nil
}

func expandSID(s string) string {
	if full, ok := sidAliases[s]; ok {
		return full
	}
	return s
}

// SIDName returns a readable name for sid when it is well known, else sid.
func SIDName(sid string) string {
	if n, ok := sidNames[sid]; ok {
		return n + " (" + sid + ")"
	}
	return sid
}
