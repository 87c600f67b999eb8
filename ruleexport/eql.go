package ruleexport

import (
	"strings"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// EQLQuery writes the rule as Elastic EQL for the seed rule's index
// patterns. In strict mode it is Elastic's query itself. Otherwise the
// Windows forms use the case-insensitive wildcard ":" as the seed does,
// except the two that hold a literal "?", which EQL wildcards cannot
// escape: those use regex~ (Lucene syntax, whole value, case-insensitive).
// The xrdp part uses the case-sensitive "like".
func EQLQuery(def detector.Definition) File {
	var diffs []string
	if !def.Strict {
		diffs = []string{
			"Where a document has no host.os.type, this query accepts Windows path forms, and xrdp forms",
			"on paths that do not start with a backslash; tsclientwatch also reads host.os.family, the",
			"platform and the data source, and takes documents without event.category as process events.",
		}
	}
	var b strings.Builder
	b.WriteString(header(def, "// ", "EQL; index patterns "+strings.Join(elasticIndexes, ", "), diffs))
	b.WriteString(eqlCondition(def))
	b.WriteString("\n")
	return File{Name: "tsclient_execution.eql", Content: b.String()}
}

func eqlCondition(def detector.Definition) string {
	var types []string
	for _, t := range def.EventTypes {
		types = append(types, quoteDouble(t.String()))
	}
	typeCond := "event.type == " + types[0]
	if len(types) > 1 {
		typeCond = "event.type in (" + strings.Join(types, ", ") + ")"
	}
	win := eqlWindowsPath(def)
	if def.Strict {
		return `process where host.os.type == "windows" and ` + typeCond + " and " + win
	}
	var b strings.Builder
	b.WriteString("process where " + typeCond + " and\n  (\n")
	b.WriteString(`    ((host.os.type == "windows" or host.os.type == null) and` + "\n      " + win + ")")
	if linuxMounts(def) {
		var pats []string
		for _, n := range def.XrdpMountNames {
			pats = append(pats, quoteDouble("*/"+n+"/?*"), quoteDouble(n+"/?*"))
		}
		b.WriteString(" or\n")
		b.WriteString(`    ((host.os.type == "linux" or (host.os.type == null and not process.executable like "\\*")) and` + "\n")
		b.WriteString("      process.executable like " + eqlList(pats) + ")")
	}
	b.WriteString("\n  )")
	return b.String()
}

// eqlWindowsPath is the condition on process.executable for the Windows
// prefixes and extensions.
func eqlWindowsPath(def detector.Definition) string {
	var wild, regex []string
	var exts []string
	for _, x := range def.Extensions {
		exts = append(exts, regexLiteral(x))
	}
	for _, p := range def.WindowsPrefixes {
		if strings.Contains(p.Text, "?") {
			regex = append(regex, `"""`+regexLiteral(p.Text)+`.*(`+strings.Join(exts, "|")+`)"""`)
			continue
		}
		for _, x := range def.Extensions {
			wild = append(wild, quoteDouble(p.Text+"*"+x))
		}
	}
	var parts []string
	if len(wild) > 0 {
		parts = append(parts, "process.executable : "+eqlList(wild))
	}
	if len(regex) > 0 {
		parts = append(parts, "process.executable regex~ "+eqlList(regex))
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, " or\n       ") + ")"
}

func eqlList(v []string) string {
	if len(v) == 1 {
		return v[0]
	}
	return "(" + strings.Join(v, ", ") + ")"
}
