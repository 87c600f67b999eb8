package osqueryevents

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// filetimeUnixDifference is 1601-01-01 to 1970-01-01 in 100 ns units.
const filetimeUnixDifference = 116444736000000000

// mapRow fills ev from one row of table. Rows that are not successful
// process starts (a ProcessStop, a failed exec, a fork) become TypeOther.
func mapRow(table string, r map[string]string, ev *detector.Event) error {
	*ev = detector.Event{Type: detector.TypeStart, Source: "osquery:" + table}
	var err error
	if ev.PID, err = intCol(r, "pid"); err != nil {
		return err
	}
	if strings.TrimSpace(r["path"]) == "" {
		return fmt.Errorf("row without a path")
	}
	ev.CommandLine = r["cmdline"]
	secs, _ := strconv.ParseInt(strings.TrimSpace(r["time"]), 10, 64)
	ev.Time = time.Unix(secs, 0).UTC()
	switch table {
	case TableETW:
		if t := r["type"]; t != "" && t != "ProcessStart" {
			ev.Type = detector.TypeOther
			return nil
		}
		ev.HostOS = detector.OSWindows
		ev.Executable = windowsImage(r["path"])
		ev.User = r["username"]
		if ev.ParentPID, err = intCol(r, "ppid"); err != nil {
			return err
		}
		// time_windows is the event's FILETIME, finer than time.
		if ft, err := strconv.ParseInt(strings.TrimSpace(r["time_windows"]), 10, 64); err == nil && ft > filetimeUnixDifference {
			ev.Time = time.Unix(0, (ft-filetimeUnixDifference)*100).UTC()
		}
	case TableBPF:
		// exit_code is the execve result: a failed exec starts nothing.
		if c := strings.TrimSpace(r["exit_code"]); c != "" && c != "0" {
			ev.Type = detector.TypeOther
			return nil
		}
		ev.HostOS = detector.OSLinux
		ev.Executable = r["path"]
		ev.WorkingDirectory = r["cwd"]
		ev.User = r["uid"]
		if ev.ParentPID, err = intCol(r, "parent"); err != nil {
			return err
		}
	case TableProcess:
		// With --audit_allow_fork_process_events, forks are rows too.
		if s := r["syscall"]; s != "" && !strings.HasPrefix(s, "exec") {
			ev.Type = detector.TypeOther
			return nil
		}
		ev.Executable = r["path"]
		ev.WorkingDirectory = r["cwd"]
		ev.User = r["uid"]
		if ev.ParentPID, err = intCol(r, "parent"); err != nil {
			return err
		}
	}
	return nil
}

func intCol(r map[string]string, col string) (int64, error) {
	s := strings.TrimSpace(r[col])
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("column %s: %q is not a number", col, s)
	}
	return n, nil
}

// windowsImage rewrites a redirector device path to the UNC path it
// stands for, and leaves every other path as osquery wrote it.
//
// osquery's process_etw_events writes ImageName as the kernel reports it,
// after replacing a \Device\HarddiskVolumeN prefix with the drive letter
// its SYSTEM DOS-device namespace maps to it (looked up once, when osquery
// starts). A program run from \\tsclient\c is \Device\Mup\tsclient\C\...
// (the kernel form; no drive letter maps there) and passes unchanged. Run
// through a drive letter a user mapped onto the client drive (net use Z:
// \\tsclient\c), the path may instead carry the redirector's per-session
// device: \Device\RdpDr\;Z:1\tsclient\C\... or \Device\Mup\;RdpDr\;Z:1\...
// (LanmanRedirector for SMB shares). The components starting with ';' name
// the mapping, not the file; without them the path is \\tsclient\C\..., the
// UNC form the rule knows.
func windowsImage(p string) string {
	const dev = `\Device\`
	if len(p) < len(dev) || !strings.EqualFold(p[:len(dev)], dev) {
		return p
	}
	parts := strings.Split(p[len(dev):], `\`)
	if len(parts) < 2 {
		return p
	}
	i := 1 // after the device: Mup, RdpDr, LanmanRedirector...
	skipped := false
	for i < len(parts) && strings.HasPrefix(parts[i], ";") {
		i++
		skipped = true
	}
	if !skipped || i >= len(parts) || parts[i] == "" {
		return p
	}
	return `\\` + strings.Join(parts[i:], `\`)
}
