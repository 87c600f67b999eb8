package version

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
)

func TestResolve(t *testing.T) {
	vcs := func(rev, at, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: at}, {Key: "vcs.modified", Value: modified}}
	}
	tests := []struct {
		name                string
		v, c, d             string
		bi                  *debug.BuildInfo
		version, commit, at string
	}{
		{"no build info", "", "", "", nil, Dev, Unknown, Unknown},
		{"go build without VCS", "", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, Dev, Unknown, Unknown},
		{"go build with VCS stamping", "", "", "",
			&debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261202155329-838f82d1a2b3+dirty"}, Settings: vcs("838f82d1a2b3", "2026-12-02T15:53:29Z", "true")},
			"0.0.0-20261202155329-838f82d1a2b3+dirty", "838f82d1a2b3+dirty", "2026-12-02T15:53:29Z"},
		{"go install module@version", "", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "1.4.0", Unknown, Unknown},
		{"release build: the stamp wins", "1.2.3", "abcdef", "2026-01-02T03:04:05Z",
			&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("123456", "2020-01-01T00:00:00Z", "true")},
			"1.2.3", "abcdef", "2026-01-02T03:04:05Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.v, tt.c, tt.d, tt.bi)
			if got.Version != tt.version || got.Commit != tt.commit || got.Date != tt.at {
				t.Errorf("resolve = %+v, want version %q commit %q date %q", got, tt.version, tt.commit, tt.at)
			}
			if got.GoVersion != runtime.Version() || got.Platform != runtime.GOOS+"/"+runtime.GOARCH {
				t.Errorf("toolchain fields %+v", got)
			}
			if s := got.String(); !strings.HasPrefix(s, "tsclientwatch "+tt.version+" (commit "+tt.commit+", built "+tt.at+", ") {
				t.Errorf("String() = %q", s)
			}
		})
	}
}

// TestStamp builds a program with the -X flags scripts/release.sh passes and
// checks Get reports them: the variable names the script uses are these.
func TestStamp(t *testing.T) {
	const pkg = "github.com/tsclientwatch/tsclientwatch/internal/version"
	bin := filepath.Join(t.TempDir(), "stamped")
	build := exec.Command("go", "build", "-trimpath", "-o", bin,
		"-ldflags", "-X "+pkg+".version=9.8.7 -X "+pkg+".commit=0123456789abcdef -X "+pkg+".date=2026-12-02T15:53:29Z",
		"./internal/version/testdata/stamp")
	build.Dir = testdir.Root(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", build.Args, err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "tsclientwatch 9.8.7 (commit 0123456789abcdef, built 2026-12-02T15:53:29Z, "
	if !strings.HasPrefix(string(out), want) {
		t.Errorf("stamped binary printed %q, want prefix %q", out, want)
	}
}
