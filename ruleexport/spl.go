package ruleexport

import (
	"strings"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// SPL sources: Sysmon EID 1 (field Image), Security 4688 (NewProcessName
// when rendered as XML, New_Process_Name in classic rendering) and, for
// xrdp, Sysmon for Linux EID 1 (Image).
const (
	splWindows = `((source="XmlWinEventLog:Microsoft-Windows-Sysmon/Operational" OR source="WinEventLog:Microsoft-Windows-Sysmon/Operational") EventCode=1)
  OR ((source="XmlWinEventLog:Security" OR source="WinEventLog:Security") EventCode=4688)`
	splLinux = `(sourcetype="sysmon:linux" OR source="Syslog:Linux-Sysmon/Operational") EventID=1`
)

// SPLSearch writes the rule as a Splunk search over Sysmon and 4688 fields.
// The paths are matched with match(), PCRE: Windows with ASCII-only case
// classes ([Tt]), xrdp case-sensitively. (?s) lets "." cross a newline and
// \z anchors at the true end (PCRE's $ also matches before a final newline).
func SPLSearch(def detector.Definition) File {
	var prefixes, exts []string
	for _, p := range def.WindowsPrefixes {
		prefixes = append(prefixes, regexFoldASCII(p.Text))
	}
	for _, x := range def.Extensions {
		exts = append(exts, regexFoldASCII(x))
	}
	winRegex := `(?s)^(` + strings.Join(prefixes, "|") + `).*(` + strings.Join(exts, "|") + `)\z`
	diffs := []string{
		"Index and source names follow the Splunk Add-ons for Sysmon and Windows; adjust them to your",
		"inputs. Sysmon and 4688 records are process starts of a Windows host, as in tsclientwatch.",
	}
	var b strings.Builder
	b.WriteString("```\n")
	b.WriteString(header(def, "", "Splunk SPL", diffs))
	b.WriteString("```\n")
	search := splWindows
	if linuxMounts(def) {
		search += "\n  OR (" + splLinux + ")"
	}
	b.WriteString("(" + search + ")\n")
	b.WriteString("| eval tsclientwatch_path=coalesce(Image, NewProcessName, New_Process_Name)\n")
	if !linuxMounts(def) {
		b.WriteString("| where match(tsclientwatch_path, " + quoteDouble(winRegex) + ")\n")
	} else {
		var names []string
		for _, n := range def.XrdpMountNames {
			names = append(names, regexLiteral(n))
		}
		linRegex := `(^|/)(` + strings.Join(names, "|") + `)/(/|[^/])`
		b.WriteString("| eval tsclientwatch_linux=if(EventID==1 AND isnull(EventCode), 1, 0)\n")
		b.WriteString("| where (tsclientwatch_linux=0 AND match(tsclientwatch_path, " + quoteDouble(winRegex) + "))\n")
		b.WriteString("    OR (tsclientwatch_linux=1 AND match(tsclientwatch_path, " + quoteDouble(linRegex) + "))\n")
	}
	b.WriteString("| table _time host User tsclientwatch_path CommandLine ParentImage\n")
	return File{Name: "tsclient_execution.spl", Content: b.String()}
}
