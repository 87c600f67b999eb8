package extension

import (
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/internal/safefile"
)

// TestPipeSDDL: review D1. The extension's named pipe has a protected DACL
// granting SYSTEM, Administrators and the extension's own account, and
// nobody else (the default named-pipe DACL also lets Everyone and ANONYMOUS
// LOGON read).
func TestPipeSDDL(t *testing.T) {
	t.Parallel()
	const user = "S-1-5-21-1004336348-1177238915-682003330-1001"
	for _, tc := range []struct {
		user string
		want []string
	}{
		{"S-1-5-18", []string{safefile.SIDSystem, safefile.SIDAdministrators}},
		{"S-1-5-32-544", []string{safefile.SIDSystem, safefile.SIDAdministrators}},
		{user, []string{safefile.SIDSystem, safefile.SIDAdministrators, user}},
	} {
		sddl := pipeSDDL(tc.user)
		if !strings.HasPrefix(sddl, "D:P(") {
			t.Errorf("pipeSDDL(%s) = %s: DACL not protected", tc.user, sddl)
		}
		sd, err := safefile.ParseSDDL(sddl)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range sd.DACL {
			if !a.Allows() || a.Flags != "" || a.Mask != 0x10000000 {
				t.Errorf("pipeSDDL(%s): unexpected ACE %+v", tc.user, a)
			}
			got = append(got, a.SID)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("pipeSDDL(%s) grants %v, want %v", tc.user, got, tc.want)
		}
	}
}
