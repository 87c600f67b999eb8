package ruleexport

import (
	"strings"
)

// regexLiteral quotes s for a regular expression: every ASCII character
// other than a letter, a digit or "_" gets a backslash. PCRE (Splunk), RE2
// (Go), Python and Lucene (Elasticsearch) all read a backslash before such a
// character as that character, so one quoting serves every engine.
func regexLiteral(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x80 && !isAlnum(r) && r != '_' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// regexFoldASCII is regexLiteral with each ASCII letter as a two-letter
// class ([Tt]): case-insensitive for ASCII only, as Windows compares server
// names, in every regex dialect and without a flag (Lucene has no inline
// flags, sigma-go knows no |i modifier).
func regexFoldASCII(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z':
			b.WriteString("[" + string(r-'a'+'A') + string(r) + "]")
		case 'A' <= r && r <= 'Z':
			b.WriteString("[" + string(r) + string(r-'A'+'a') + "]")
		default:
			b.WriteString(regexLiteral(string(r)))
		}
	}
	return b.String()
}

func isAlnum(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
}

// xrdpRegex matches, anywhere in a path, the component name followed by
// "/" and one more character of any kind. It needs no "." (which PCRE and
// RE2 do not let match a newline) and no anchor at the end.
func xrdpRegex(name string) string {
	return `(^|/)` + regexLiteral(name) + `/(/|[^/])`
}

// quoteDouble writes s as a double-quoted string for EQL, ES|QL and SPL:
// backslash and double quote escaped. Definition validation keeps control
// characters out.
func quoteDouble(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// quoteSQL writes s as an SQL string literal.
func quoteSQL(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// likeEscape is the ESCAPE character of the SQL LIKE patterns.
const likeEscape = '!'

// sqlLike quotes s for a LIKE pattern with ESCAPE '!'.
func sqlLike(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

// sqlGlob quotes s for a GLOB pattern: "[" opens a class, so it is written
// as the class "[[]". Validation keeps "*" and "?" out of mount names.
func sqlGlob(s string) string { return strings.ReplaceAll(s, "[", "[[]") }

// wildcardLiteral reports whether s can stand in a wildcard pattern
// (Sigma, EQL "like", ES|QL LIKE) as itself: no "*" or "?", no backslash.
func wildcardLiteral(s string) bool { return !strings.ContainsAny(s, `*?\`) }
