// Package version reports which build of tsclientwatch is running: the
// version, commit and build date scripts/release.sh stamps into every binary
// with -ldflags, or what the Go toolchain recorded when it built without them
// (go build, go run, go install module@version).
//
// The release build sets, for the module path of this package:
//
//	-X .../internal/version.version=1.2.3
//	-X .../internal/version.commit=<full commit id>
//	-X .../internal/version.date=2026-12-02T15:53:29Z
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Stamped at build time; empty in a build without -ldflags.
var (
	version string
	commit  string
	date    string
)

// Unknown is what a field shows when neither the release build nor the Go
// toolchain recorded it.
const Unknown = "unknown"

// Dev is the version of a build from a source tree that recorded no version
// (go build or go run without -ldflags, and without VCS stamping).
const Dev = "dev"

// Info describes the running build.
type Info struct {
	Version   string // "1.2.3", a Go pseudo-version, or Dev
	Commit    string // the full commit id ("+dirty" when built from a modified tree), or Unknown
	Date      string // build date (the commit's time, for reproducibility), RFC 3339 UTC, or Unknown
	GoVersion string // the Go toolchain that built it
	Platform  string // GOOS/GOARCH
}

// Get returns the running build's Info.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, commit, date, bi)
}

// resolve fills Info from the stamped values, falling back to the build
// information the Go toolchain embeds.
func resolve(v, c, d string, bi *debug.BuildInfo) Info {
	info := Info{Version: v, Commit: c, Date: d, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			// go install module@v1.2.3, or a go build that stamped a
			// pseudo-version from VCS information.
			info.Version = strings.TrimPrefix(bi.Main.Version, "v")
		}
		var rev, at string
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if info.Commit == "" && rev != "" {
			info.Commit = rev
			if modified {
				info.Commit += "+dirty"
			}
		}
		if info.Date == "" && at != "" {
			info.Date = at
		}
	}
	if info.Version == "" {
		info.Version = Dev
	}
	if info.Commit == "" {
		info.Commit = Unknown
	}
	if info.Date == "" {
		info.Date = Unknown
	}
	return info
}

// String is the one-line form the binaries print for --version:
// "tsclientwatch 1.2.3 (commit abc..., built 2026-12-02T15:53:29Z, go1.26.8 linux/amd64)".
func (i Info) String() string {
	return fmt.Sprintf("tsclientwatch %s (commit %s, built %s, %s %s)", i.Version, i.Commit, i.Date, i.GoVersion, i.Platform)
}
