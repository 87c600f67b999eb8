// Package ruleexport writes the detector's rule in the languages other
// engines run: Sigma, Elastic EQL, KQL and ES|QL, Splunk SPL, and osquery
// SQL. Every export is written from a detector.Definition, the same value
// the Matcher is built from, so --strict, the extensions and the xrdp mount
// names change the exports as they change the detector. One file per
// language; the shared quoting lives in text.go.
package ruleexport

import (
	"fmt"
	"strings"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// Format names an export language.
type Format string

// The export formats.
const (
	Sigma   Format = "sigma"
	EQL     Format = "eql"
	KQL     Format = "kql"
	ESQL    Format = "esql"
	SPL     Format = "spl"
	Osquery Format = "osquery"
)

// Formats lists every format, in the order help texts show them.
func Formats() []Format { return []Format{Sigma, EQL, KQL, ESQL, SPL, Osquery} }

// File is one exported rule: the file name it is conventionally saved as
// and its content.
type File struct {
	Name    string
	Content string
}

// Export writes def in format f. Sigma yields one file per product (one in
// strict mode, which has no xrdp part); every other format one file.
func Export(def detector.Definition, f Format) ([]File, error) {
	switch f {
	case Sigma:
		return SigmaRules(def), nil
	case EQL:
		return []File{EQLQuery(def)}, nil
	case KQL:
		return []File{KQLQuery(def)}, nil
	case ESQL:
		return []File{ESQLQuery(def)}, nil
	case SPL:
		return []File{SPLSearch(def)}, nil
	case Osquery:
		return []File{OsqueryPack(def)}, nil
	}
	names := make([]string, 0, 6)
	for _, x := range Formats() {
		names = append(names, string(x))
	}
	return nil, fmt.Errorf("unknown rule format %q (want %s)", f, strings.Join(names, ", "))
}

// elasticIndexes are the index patterns of Elastic's rule, which the EQL,
// KQL and ES|QL exports search.
var elasticIndexes = []string{
	"logs-endpoint.events.process-*",
	"winlogbeat-*",
	"logs-windows.forwarded*",
	"logs-windows.sysmon_operational-*",
	"endgame-*",
	"logs-system.security*",
	"logs-m365_defender.event-*",
	"logs-sentinel_one_cloud_funnel.*",
}

// header is the comment every text export starts with: the rule, the
// settings it was written for, and how it differs from Elastic's rule.
// prefix is the language's line-comment marker.
func header(def detector.Definition, prefix, lang string, differences []string) string {
	var b strings.Builder
	line := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		if s == "" {
			b.WriteString(strings.TrimRight(prefix, " ") + "\n")
			return
		}
		b.WriteString(prefix + s + "\n")
	}
	line("%s: %s (tsclientwatch rule export, %s)", def.Rule.Name, def.Rule.ID, lang)
	line("Elastic rule id %s, severity %s, MITRE ATT&CK %s %s / %s.", def.Rule.ID, def.Rule.Severity,
		def.Rule.Tactic.ID, def.Rule.Tactic.Name, def.Rule.Subtechnique.ID)
	line("Settings: %s.", settings(def))
	if def.Strict {
		line("Strict: the Elastic query exactly (kernel path form, .exe, host.os.type windows, event.type start).")
	} else {
		line("Differs from Elastic's rule (%s):", detector.ElasticQuery)
		line("  + the UNC forms Sysmon writes (\\\\tsclient\\...), the long and NT-object UNC forms,")
		line("    extensions %s, and the older event.type process_started;", strings.Join(def.Extensions, " "))
		if len(def.XrdpMountNames) > 0 {
			line("  + Linux xrdp client drives: a path component %s followed by more path;", strings.Join(def.XrdpMountNames, ", "))
		}
	}
	for _, d := range differences {
		line("%s", d)
	}
	line("Never matched: %s.", nearMissList(def))
	line("")
	return b.String()
}

func settings(def detector.Definition) string {
	if def.Strict {
		return "strict"
	}
	s := "extensions " + strings.Join(def.Extensions, ",")
	if len(def.XrdpMountNames) > 0 {
		s += "; xrdp mount names " + strings.Join(def.XrdpMountNames, ",")
	} else {
		s += "; no xrdp mount names"
	}
	return s
}

func nearMissList(def detector.Definition) string {
	var parts []string
	for _, nm := range def.NearMisses {
		if def.Strict && nm.HostOS != detector.OSWindows {
			continue
		}
		parts = append(parts, nm.Path)
	}
	return strings.Join(parts, ", ")
}

// linuxMounts reports whether def has an xrdp part.
func linuxMounts(def detector.Definition) bool { return len(def.XrdpMountNames) > 0 }

// hasType reports whether def matches events of type t.
func hasType(def detector.Definition, t detector.EventType) bool {
	for _, x := range def.EventTypes {
		if x == t {
			return true
		}
	}
	return false
}
