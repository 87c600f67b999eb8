// Package testdir locates test inputs: the project's own testdata/ and the
// read-only shared data set that sits beside the checkout (../shared/data).
// Tests read shared files in place; the project never copies them.
package testdir

import (
	"os"
	"path/filepath"
	"testing"
)

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

// Shared returns the path of ../shared/data joined with elem. The shared data
// set is part of the test environment (CI lays it beside the clone), so its
// absence fails the test rather than skipping it.
func Shared(t testing.TB, elem ...string) string {
	t.Helper()
	base := filepath.Join(Root(t), "..", "shared", "data")
	if _, err := os.Stat(base); err != nil {
		t.Fatalf("shared test data missing: %v (expected ../shared/data beside the checkout)", err)
	}
	return filepath.Join(append([]string{base}, elem...)...)
}

// Testdata returns the path of the project's testdata/ joined with elem.
func Testdata(t testing.TB, elem ...string) string {
	t.Helper()
	return filepath.Join(append([]string{Root(t), "testdata"}, elem...)...)
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
