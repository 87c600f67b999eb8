package ruleexport

import (
	"encoding/json"
	"strings"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// OsqueryQuery is one query of the osquery pack.
type OsqueryQuery struct {
	Query       string `json:"query"`
	Interval    int    `json:"interval"`
	Platform    string `json:"platform"`
	Removed     bool   `json:"removed"`
	Description string `json:"description"`
}

// OsqueryQueries returns the pack's queries by name: osquery's own evented
// tables, so they run where tsclientwatch is not installed.
// process_etw_events (Windows) is compared with LIKE, which
// SQLite folds for ASCII letters only, as Windows compares server names;
// bpf_process_events and process_events (Linux) with GLOB, which is
// case-sensitive as Linux paths are.
func OsqueryQueries(def detector.Definition) map[string]OsqueryQuery {
	var win []string
	for _, p := range def.WindowsPrefixes {
		for _, x := range def.Extensions {
			win = append(win, "path LIKE "+quoteSQL(sqlLike(p.Text)+"%"+sqlLike(x))+" ESCAPE '"+string(likeEscape)+"'")
		}
	}
	id := "rule " + def.Rule.ID
	if def.Strict {
		id += " (strict)"
	}
	qs := map[string]OsqueryQuery{
		"tsclient_execution_windows": {
			Query: "SELECT pid, ppid, session_id, path, cmdline, username, time FROM process_etw_events" +
				" WHERE type = 'ProcessStart' AND (" + strings.Join(win, " OR ") + ");",
			Interval: 300, Platform: "windows",
			Description: def.Rule.Name + " (" + id + "): a process started from an RDP client's redirected drive " +
				"(" + strings.Join(prefixTexts(def), ", ") + "; " + strings.Join(def.Extensions, ", ") + "). " +
				"Needs osquery with --enable_process_etw_events.",
		},
	}
	if linuxMounts(def) {
		var lin []string
		for _, n := range def.XrdpMountNames {
			lin = append(lin, "path GLOB "+quoteSQL("*/"+sqlGlob(n)+"/?*"), "path GLOB "+quoteSQL(sqlGlob(n)+"/?*"))
		}
		cond := strings.Join(lin, " OR ")
		desc := def.Rule.Name + " (" + id + "): a process started from an xrdp client drive (a path component " +
			strings.Join(def.XrdpMountNames, ", ") + ", compared case-sensitively)."
		qs["tsclient_execution_linux_bpf"] = OsqueryQuery{
			Query:    "SELECT pid, parent, uid, path, cmdline, cwd, time FROM bpf_process_events WHERE " + cond + ";",
			Interval: 300, Platform: "linux",
			Description: desc + " Needs --enable_bpf_events.",
		}
		qs["tsclient_execution_linux_audit"] = OsqueryQuery{
			Query:    "SELECT pid, parent, uid, path, cmdline, cwd, time FROM process_events WHERE " + cond + ";",
			Interval: 300, Platform: "linux",
			Description: desc + " Needs --disable_audit=false and --audit_allow_process_events.",
		}
	}
	return qs
}

// OsqueryPack writes the queries as an osquery pack (JSON, which has no
// comments: the rule id and settings are in each description).
func OsqueryPack(def detector.Definition) File {
	pack := struct {
		Queries map[string]OsqueryQuery `json:"queries"`
	}{OsqueryQueries(def)}
	b, err := json.MarshalIndent(pack, "", "  ")
	if err != nil {
		panic(err) // strings and ints only
	}
	return File{Name: "tsclient_execution.pack.json", Content: string(b) + "\n"}
}

func prefixTexts(def detector.Definition) []string {
	var s []string
	for _, p := range def.WindowsPrefixes {
		s = append(s, p.Text)
	}
	return s
}
