package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// Binaries built once for the whole test run.
var (
	pluginPath string // the real cmd/tsclientwatch-plugin
	pluginSum  string
	badPath    string // testdata/badplugin: prints to stdout before serving
	badSum     string
	evilPath   string // testdata/evilplugin: crashes, hangs or over-answers on marked events
	evilSum    string
)

func TestMain(m *testing.M) {
	if os.Getenv(hostModeEnv) != "" {
		runHost() // this process is the host that TestHostKilled kills
		return
	}
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.fuzzworker") {
			// A fuzzing worker runs only the fuzz target, which needs no
			// plugin binary: spare the shared machine the builds.
			os.Exit(m.Run())
		}
	}
	dir, err := os.MkdirTemp("", "tsw-plugin-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		var err error
		if pluginPath, pluginSum, err = build(dir, "tsclientwatch-plugin", "../cmd/tsclientwatch-plugin"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if badPath, badSum, err = build(dir, "badplugin", "./testdata/badplugin"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if evilPath, evilSum, err = build(dir, "evilplugin", "./testdata/evilplugin"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// build compiles pkg into dir and returns the binary's path and SHA-256.
func build(dir, name, pkg string) (path, sum string, err error) {
	path = filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", path, pkg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("go build %s: %w", pkg, err)
	}
	sum, err = fileSum(path)
	return path, sum, err
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
