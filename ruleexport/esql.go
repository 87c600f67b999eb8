package ruleexport

import (
	"strings"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// ESQLQuery writes the rule as Elasticsearch ES|QL over the seed rule's
// index patterns. Windows paths are compared in lower case (TO_LOWER) with
// LIKE; xrdp paths case-sensitively with LIKE, where "?*" is one or more
// characters. MV_EXPAND makes multi-valued event.type and event.category
// comparable (ES|QL answers null for a list compared to a value).
func ESQLQuery(def detector.Definition) File {
	diffs := []string{
		"TO_LOWER folds Unicode letters too: a non-ASCII letter whose lower case is ASCII (the Kelvin",
		"sign) can match here and not in tsclientwatch. A document whose event.type holds both start",
		"and process_started is returned twice (MV_EXPAND).",
	}
	if !def.Strict {
		diffs = append(diffs, "Where a document has no host.os.type, Windows forms match, and xrdp forms on paths that do",
			"not start with a backslash; tsclientwatch also reads host.os.family, the platform and the data source.")
	}
	var b strings.Builder
	b.WriteString(header(def, "// ", "ES|QL", diffs))
	b.WriteString("FROM " + strings.Join(elasticIndexes, ", ") + "\n")
	var types []string
	for _, t := range def.EventTypes {
		types = append(types, quoteDouble(t.String()))
	}
	b.WriteString("| MV_EXPAND event.category\n| MV_EXPAND event.type\n")
	b.WriteString(`| WHERE event.category == "process" AND event.type IN (` + strings.Join(types, ", ") + ")\n")
	var win []string
	for _, p := range def.WindowsPrefixes {
		for _, x := range def.Extensions {
			win = append(win, "TO_LOWER(process.executable) LIKE "+esqlPattern(esqlLike(strings.ToLower(p.Text))+"*"+esqlLike(x)))
		}
	}
	hostWin := `host.os.type == "windows"`
	if !def.Strict {
		hostWin = `(host.os.type == "windows" OR host.os.type IS NULL)`
	}
	b.WriteString("| WHERE (" + hostWin + " AND (\n      " + strings.Join(win, " OR\n      ") + "))")
	if linuxMounts(def) {
		var lin []string
		for _, n := range def.XrdpMountNames {
			lin = append(lin, "process.executable LIKE "+esqlPattern("*/"+esqlLike(n)+"/?*"),
				"process.executable LIKE "+esqlPattern(esqlLike(n)+"/?*"))
		}
		b.WriteString(" OR\n    ((host.os.type == \"linux\" OR (host.os.type IS NULL AND NOT process.executable LIKE " + esqlPattern(`\\*`) + ")) AND (\n      " +
			strings.Join(lin, " OR\n      ") + "))")
	}
	b.WriteString("\n| KEEP @timestamp, host.name, host.os.type, user.name, process.pid, process.executable, process.command_line\n")
	return File{Name: "tsclient_execution.esql", Content: b.String()}
}

// esqlLike quotes s for an ES|QL LIKE pattern, where \ escapes * ? and \.
func esqlLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`).Replace(s)
}

// esqlPattern writes a LIKE pattern as a string literal: triple-quoted (no
// escapes, so the backslashes read as written) unless it holds a double
// quote.
func esqlPattern(p string) string {
	if strings.Contains(p, `"`) {
		return quoteDouble(p)
	}
	return `"""` + p + `"""`
}
