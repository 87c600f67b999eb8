package detector

import (
	"slices"
	"testing"
)

func TestNeedles(t *testing.T) {
	strict := DefaultConfig()
	strict.Strict = true
	for _, tt := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"default", DefaultConfig(), []string{"tsclient", "xrdp_client", "xrdp-client", "thinclient_drives"}},
		{"strict has no mount names", strict, []string{"tsclient"}},
		{"a name containing another is dropped", Config{XrdpMountNames: []string{"thinclient_drives", "THINCLIENT_drives_2", ""}}, []string{"tsclient", "thinclient_drives"}},
		{"only ASCII case folds", Config{XrdpMountNames: []string{"é", "xÉy"}}, []string{"é", "xÉy", "tsclient"}},
		{"custom mounts", Config{XrdpMountNames: []string{"RDP_Share", "my_tsclient_mount", ""}}, []string{"tsclient", "RDP_Share"}},
		{"zero", Config{}, []string{"tsclient"}},
		{"a mount name inside tsclient's run", Config{XrdpMountNames: []string{"client"}}, []string{"client"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Needles(tt.cfg); !slices.Equal(got, tt.want) {
				t.Errorf("Needles = %q, want %q", got, tt.want)
			}
		})
	}
}
