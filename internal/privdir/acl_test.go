package privdir

import (
	"strings"
	"testing"
)

// TestCheckDirSDDL runs the Windows rule for a private directory on
// descriptors as Windows writes them (SDDL), wherever the tests run.
func TestCheckDirSDDL(t *testing.T) {
	t.Parallel()
	const user = "S-1-5-21-1-2-3-1001"
	tests := []struct {
		name, sddl string
		want       string // "" = accepted
	}{
		{"as created (SYSTEM)", "O:SY" + dirSDDL("S-1-5-18"), ""},
		{"as created (a user running it)", "O:" + user + dirSDDL(user), ""},
		{"owned by SYSTEM, protected", "O:SYG:SYD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)", ""},
		{"read for users is fine", "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)", ""},
		{"deny entries are ignored", "O:BAD:(D;;FA;;;WD)(A;OICI;FA;;;SY)", ""},
		{"CREATOR OWNER inheritance", "O:BAD:(A;OICIIO;FA;;;CO)(A;OICI;FA;;;SY)", ""},
		{"ProgramData default inherited (Users may add files)", "O:BAD:AI(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)(A;CIID;DCLCRPCR;;;BU)", "lets BUILTIN\\Users"},
		{"Users modify", "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;0x1301bf;;;BU)", "lets BUILTIN\\Users"},
		{"Everyone full", "O:BAD:(A;;FA;;;WD)", "lets Everyone"},
		{"write only to files created in it", "O:BAD:P(A;OICI;FA;;;SY)(A;OICIIO;GW;;;AU)", "lets Authenticated Users"},
		{"another user's directory", "O:S-1-5-21-1-2-3-1002D:P(A;OICI;FA;;;SY)", "owned by S-1-5-21-1-2-3-1002"},
		{"null DACL", "O:BA", "no DACL"},
		{"owned by Users", "O:BUD:P(A;OICI;FA;;;SY)", "owned by BUILTIN\\Users"},
		{"garbage", "not sddl", "SDDL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkDirSDDL(tt.sddl, user)
			if tt.want == "" {
				if err != nil {
					t.Errorf("%s: %v, want accepted", tt.sddl, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: %v, want an error containing %q", tt.sddl, err, tt.want)
			}
		})
	}
}
