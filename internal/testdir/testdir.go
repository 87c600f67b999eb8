// Package testdir locates test inputs, so that every test reads data the
// same way:
//
//   - Testdata: the project's own samples in testdata/;
//   - ThirdParty: real third-party logs whose licences allow copying,
//     kept unmodified in testdata/thirdparty/ (see its README.md);
//   - Shared: the data that may not live in the repository (the GPL-3.0
//     EVTX-ATTACK-SAMPLES corpus, the Elastic-licensed ECS golden files),
//     read in place from ../shared/data beside the checkout, or from
//     $TSCLIENTWATCH_SHARED_DATA. scripts/corpus.sh fetches it.
//
// A fresh clone has testdata/ and testdata/thirdparty/ but no
// ../shared/data: tests that need the outside data then skip with one
// line that says what is missing and how to get it. Under CI (the CI
// variable set, as .ci/run sets it) the data is promised, so its absence
// fails those tests instead.
package testdir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SharedEnv names the environment variable that points the tests at a
// directory laid out like ../shared/data somewhere else.
const SharedEnv = "TSCLIENTWATCH_SHARED_DATA"

// The data sets kept outside the repository, as paths under the shared
// data directory.
const (
	// AttackSamples is sbousseaden/EVTX-ATTACK-SAMPLES (GPL-3.0): 275 real
	// attack recordings, none holding a tsclient execution.
	AttackSamples = "evtx-corpus/attack-samples"
	// ECS holds Elastic's ECS golden and sample documents (Elastic License
	// 2.0): Elastic Defend and winlogbeat output.
	ECS = "ecs"
)

// outside describes each outside data set for the skip message.
var outside = map[string]string{
	AttackSamples: "sbousseaden/EVTX-ATTACK-SAMPLES, GPL-3.0",
	ECS:           "Elastic ECS golden files, Elastic License 2.0",
}

// Root returns the module root (the directory holding go.mod).
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// Testdata returns the path of the project's testdata/ joined with elem.
func Testdata(t testing.TB, elem ...string) string {
	t.Helper()
	return filepath.Join(append([]string{Root(t), "testdata"}, elem...)...)
}

// ThirdParty returns the path of testdata/thirdparty/ joined with elem: a
// real third-party sample kept in the repository. Its absence is a broken
// checkout, so the test fails.
func ThirdParty(t testing.TB, elem ...string) string {
	t.Helper()
	p := Testdata(t, append([]string{"thirdparty"}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("third-party sample missing from the repository: %v", err)
	}
	return p
}

// SharedDir returns the directory the outside data is read from:
// $TSCLIENTWATCH_SHARED_DATA when set, else ../shared/data beside the
// checkout. It does not check that the directory exists.
func SharedDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv(SharedEnv); d != "" {
		return d
	}
	return filepath.Join(Root(t), "..", "shared", "data")
}

// Shared returns the path of an outside data set file or directory; elem
// must start with one of the sets (AttackSamples, ECS), and the test fails
// when it does not (in-repository samples are read with ThirdParty). When
// the path is missing the test is skipped with one line naming the data
// and scripts/corpus.sh, or failed under CI.
func Shared(t testing.TB, elem ...string) string {
	t.Helper()
	p, err := shared(t, elem)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("shared test data missing: %v; CI must provide it beside the checkout (scripts/corpus.sh fetches it)", err)
		}
		t.Skipf("SKIPPED: %v; scripts/corpus.sh fetches it (or set %s to its directory)", err, SharedEnv)
	}
	return p
}

// SharedOptional is Shared for inputs a test can do without, such as extra
// fuzz seeds: when the path is missing outside CI it logs one line and
// returns ok false instead of skipping the test.
func SharedOptional(t testing.TB, elem ...string) (path string, ok bool) {
	t.Helper()
	p, err := shared(t, elem)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("shared test data missing: %v; CI must provide it beside the checkout (scripts/corpus.sh fetches it)", err)
		}
		t.Logf("not used: %v; scripts/corpus.sh fetches it (or set %s to its directory)", err, SharedEnv)
		return "", false
	}
	return p, true
}

// shared resolves elem under the shared data directory and checks that it
// exists. A path outside the outside data sets is a mistake in the test.
func shared(t testing.TB, elem []string) (string, error) {
	t.Helper()
	rel := filepath.ToSlash(filepath.Join(elem...))
	var set string
	for s := range outside {
		if rel == s || strings.HasPrefix(rel, s+"/") {
			set = s
		}
	}
	if set == "" {
		t.Fatalf("testdir.Shared(%q): not an outside data set (%s or %s); third-party samples the repository may hold are read with testdir.ThirdParty",
			rel, AttackSamples, ECS)
	}
	p := filepath.Join(append([]string{SharedDir(t)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s not found (%s, kept out of the repository for its licence)", p, outside[set])
	}
	return p, nil
}

// SkipOutsideCI skips a test whose environment is missing (root, bindfs,
// an external tool) on a developer's machine. Under CI (the CI variable
// set, as .ci/run runs) that environment is promised, so its absence fails
// the test instead of hiding a gap behind a skip.
func SkipOutsideCI(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI must provide this test's environment: "+format, args...)
	}
	t.Skipf("SKIPPED: "+format, args...)
}
