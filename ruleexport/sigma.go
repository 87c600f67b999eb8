package ruleexport

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// The Sigma rule ids of the default configuration. Any other configuration
// gets ids derived from its definition, related to these as "derived".
const (
	SigmaWindowsID = "c72f023d-42c6-436e-a94f-093b1feff458"
	SigmaLinuxID   = "880e4ffa-6cf8-4f8a-9706-e575f32476ee"
)

// sigmaDate is when the rules were first written (SigmaHQ's date field).
const sigmaDate = "2026-12-02"

// SigmaRules writes one Sigma rule per product in SigmaHQ's conventions:
// Windows process_creation always, Linux process_creation when the
// definition has xrdp mount names.
//
// Sigma compares strings without case by default, which fits Windows, but
// its escaping makes "\\" one backslash in pySigma and two in engines that
// take values literally (sigma-go): the UNC forms, which start with two
// backslashes and hold "?", are therefore written as regular expressions
// with ASCII-only case classes ([Tt]). Linux paths are case-sensitive, so
// the xrdp part is a regular expression too (Sigma's |re is case-sensitive).
func SigmaRules(def detector.Definition) []File {
	files := []File{sigmaWindows(def)}
	if linuxMounts(def) {
		files = append(files, sigmaLinux(def))
	}
	return files
}

func sigmaWindows(def detector.Definition) File {
	var plain, regex []string
	for _, p := range def.WindowsPrefixes {
		if sigmaPlain(p.Text) {
			plain = append(plain, p.Text)
		} else {
			regex = append(regex, "^"+regexFoldASCII(p.Text))
		}
	}
	var det strings.Builder
	var conds []string
	if len(plain) > 0 {
		det.WriteString("    selection_path_plain:\n" + sigmaField("Image|startswith", plain))
		conds = append(conds, "selection_path_plain")
	}
	if len(regex) > 0 {
		det.WriteString("    # \\\\tsclient\\, \\\\?\\UNC\\tsclient\\ and \\??\\UNC\\tsclient\\ start with two backslashes and hold \"?\":\n")
		det.WriteString("    # regular expressions with ASCII-only case classes say exactly that in every engine.\n")
		det.WriteString("    selection_path_regex:\n" + sigmaField("Image|re", regex))
		conds = append(conds, "selection_path_regex")
	}
	det.WriteString("    selection_extension:\n" + sigmaField("Image|endswith", def.Extensions))
	cond := conds[0] + " and selection_extension"
	if len(conds) > 1 {
		cond = "1 of selection_path_* and selection_extension"
	}
	det.WriteString("    condition: " + cond + "\n")

	title := "Process Started From RDP Client Redirected Drive"
	desc := `Detects a process started from a drive that an RDP client shared with the server, in every
    form Windows logs write it: \Device\Mup\tsclient\ (Security 4688, Elastic Defend), \\tsclient\ (Sysmon),
    \\?\UNC\tsclient\ and \??\UNC\tsclient\. Nothing is copied to the server's disk, so file-based
    controls see nothing. Other MUP and UNC servers, look-alike names such as \\tsclientx\ or
    \Device\Mup\tsclient.evil.com\, local programs named TSClient.exe and extensions that are not the
    suffix never match: each prefix ends at the separator after tsclient.`
	if def.Strict {
		title += " (Kernel Path Only)"
		desc = `Detects a process started from a drive that an RDP client shared with the server, exactly as
    Elastic's rule does: the kernel path \Device\Mup\tsclient\ and .exe only.`
	}
	rule := sigmaRule{
		title: title, baseID: SigmaWindowsID, def: def, product: detector.OSWindows,
		description:    desc,
		references:     []string{"https://www.elastic.co/guide/en/security/current/execution-via-tsclient-mountpoint.html"},
		falsepositives: []string{"Administrators running tools from their own workstation's drive in an RDP session"},
		detection:      det.String(),
		fileName:       "proc_creation_win_tsclient_redirected_drive_execution.yml",
	}
	return rule.file()
}

func sigmaLinux(def detector.Definition) File {
	var regex []string
	for _, n := range def.XrdpMountNames {
		regex = append(regex, xrdpRegex(n))
	}
	det := "    # Linux paths are case-sensitive, and Sigma's |re is too: the mount name as a whole path\n" +
		"    # component, followed by at least one more character.\n" +
		"    selection:\n" + sigmaField("Image|re", regex) + "    condition: selection\n"
	rule := sigmaRule{
		title: "Process Started From Xrdp Client Drive Mount", baseID: SigmaLinuxID, def: def, product: detector.OSLinux,
		description: `Detects a process started from a drive that an RDP client shared with an xrdp server: xrdp's
    chansrv mounts it with FUSE under a directory named ` + strings.Join(def.XrdpMountNames, ", ") + `
    (sesman.ini FuseMountName; the built-in defaults are thinclient_drives, xrdp_client and xrdp-client).
    A directory whose name only starts or ends with a mount name, or differs in case, never matches.`,
		references:     []string{"https://manpages.debian.org/bookworm/xrdp/sesman.ini.5.en.html"},
		falsepositives: []string{"Users running programs from their own client drive in an xrdp session"},
		detection:      det,
		fileName:       "proc_creation_lnx_xrdp_client_drive_execution.yml",
	}
	return rule.file()
}

// sigmaPlain reports whether s means the same to every Sigma engine as a
// plain value: no wildcard, and no backslash that Sigma's escaping would
// read as an escape (one before "*", "?" or another backslash).
func sigmaPlain(s string) bool {
	return !strings.ContainsAny(s, "*?") && !strings.Contains(s, `\\`)
}

// sigmaField writes "field: 'value'" or a sorted list (SigmaHQ wants single
// values on one line and lists in order).
func sigmaField(field string, values []string) string {
	values = slices.Clone(values)
	slices.Sort(values)
	if len(values) == 1 {
		return "        " + field + ": " + yamlQuote(values[0]) + "\n"
	}
	s := "        " + field + ":\n"
	for _, v := range values {
		s += "            - " + yamlQuote(v) + "\n"
	}
	return s
}

// yamlQuote writes a YAML single-quoted scalar, which has one escape: a
// single quote is written twice.
func yamlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

type sigmaRule struct {
	title, baseID, product, description, detection, fileName string
	references, falsepositives                               []string
	def                                                      detector.Definition
}

func (r sigmaRule) file() File {
	id, derived := sigmaID(r.baseID, r.def, r.product)
	var b strings.Builder
	b.WriteString(header(r.def, "# ", "Sigma, "+r.product, nil))
	b.WriteString("title: " + r.title + "\n")
	b.WriteString("id: " + id + "\n")
	if derived {
		b.WriteString("related:\n    - id: " + r.baseID + "\n      type: derived\n")
	}
	b.WriteString("status: experimental\n")
	b.WriteString("description: |\n    " + r.description + "\n")
	b.WriteString("references:\n")
	for _, ref := range r.references {
		b.WriteString("    - " + ref + "\n")
	}
	b.WriteString("author: tsclientwatch\n")
	b.WriteString("date: " + sigmaDate + "\n")
	b.WriteString("tags:\n    - attack.lateral-movement\n    - attack." + strings.ToLower(r.def.Rule.Subtechnique.ID) + "\n")
	b.WriteString("logsource:\n    category: process_creation\n    product: " + r.product + "\n")
	b.WriteString("detection:\n" + r.detection)
	b.WriteString("falsepositives:\n")
	for _, fp := range r.falsepositives {
		b.WriteString("    - " + fp + "\n")
	}
	b.WriteString("level: " + r.def.Rule.Severity + "\n")
	return File{Name: r.fileName, Content: b.String()}
}

// sigmaID returns the rule id: base for the default configuration, else a
// version 4 UUID derived from the definition, so the same settings always
// give the same id and different settings different ids.
func sigmaID(base string, def detector.Definition, product string) (string, bool) {
	dflt, _ := detector.DefaultConfig().Definition()
	if sameSigmaLogic(def, dflt, product) {
		return base, false
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%v\x00", base, product, def.Strict)
	for _, p := range def.WindowsPrefixes {
		fmt.Fprintf(h, "p%s\x00", p.Text)
	}
	for _, x := range def.Extensions {
		fmt.Fprintf(h, "x%s\x00", x)
	}
	for _, n := range def.XrdpMountNames {
		fmt.Fprintf(h, "m%s\x00", n)
	}
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]), true
}

// sameSigmaLogic reports whether a and b give the same rule for product.
func sameSigmaLogic(a, b detector.Definition, product string) bool {
	if a.Strict != b.Strict {
		return false
	}
	if product == detector.OSLinux {
		return slices.Equal(a.XrdpMountNames, b.XrdpMountNames)
	}
	return slices.Equal(a.WindowsPrefixes, b.WindowsPrefixes) && slices.Equal(a.Extensions, b.Extensions)
}
