package ruleexport

import (
	"strings"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// KQLQuery writes the rule as Kibana Query Language. KQL has neither a
// case-insensitive comparison on keyword fields nor a one-character
// wildcard, so it cannot say all the rule says: it lists the spellings
// Windows writes (the prefixes as Windows spells them, extensions in lower
// and upper case), and "*/name/*" also accepts the mount directory itself
// with a trailing slash (which no process start has). KQL has no comments:
// paste the lines after the header.
func KQLQuery(def detector.Definition) File {
	diffs := []string{
		"KQL compares keyword values case-sensitively: only the spellings listed below match",
		"(\\\\TSCLIENT\\ or a.Exe does not). Kibana before 8.12.1 needs every backslash doubled once",
		"more in wildcard values. KQL has no comments: paste only the query below this header.",
	}
	var b strings.Builder
	b.WriteString(header(def, "// ", "KQL; index patterns "+strings.Join(elasticIndexes, ", "), diffs))
	var types []string
	for _, t := range def.EventTypes {
		types = append(types, kqlValue(t.String()))
	}
	b.WriteString("event.category:process and event.type:(" + strings.Join(types, " or ") + ") and (\n")
	var win []string
	for _, p := range def.WindowsPrefixes {
		for _, x := range def.Extensions {
			for _, e := range spellings(x) {
				win = append(win, kqlValue(p.Text)+"*"+kqlValue(e))
			}
		}
	}
	hostWin := `host.os.type:windows`
	if !def.Strict {
		hostWin = `(host.os.type:windows or not host.os.type:*)`
	}
	b.WriteString("  (" + hostWin + " and process.executable:(" + strings.Join(win, " or ") + "))")
	if linuxMounts(def) {
		var lin []string
		for _, n := range def.XrdpMountNames {
			lin = append(lin, "*/"+kqlValue(n)+"/*", kqlValue(n)+"/*")
		}
		b.WriteString(" or\n  ((host.os.type:linux or (not host.os.type:* and not process.executable:\\\\*)) and process.executable:(" +
			strings.Join(lin, " or ") + "))")
	}
	b.WriteString("\n)\n")
	return File{Name: "tsclient_execution.kql", Content: b.String()}
}

// kqlValue escapes s for an unquoted KQL value, where * stays a wildcard
// only when the caller adds it.
func kqlValue(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\():<>"*{} `, r) || r == '\t' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// spellings returns x in lower case and, when different, upper case.
func spellings(x string) []string {
	if u := strings.ToUpper(x); u != x {
		return []string{x, u}
	}
	return []string{x}
}
