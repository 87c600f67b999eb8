package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/internal/escape"
	"github.com/tsclientwatch/tsclientwatch/ruleexport"
)

func init() { subcommands = append(subcommands, newRuleCmd) }

func newRuleCmd() *cobra.Command {
	var format, outDir string
	var formats []string
	for _, f := range ruleexport.Formats() {
		formats = append(formats, string(f))
	}
	cmd := &cobra.Command{
		Use:   "rule --format " + strings.Join(formats, "|"),
		Short: "Print the rule as Sigma, EQL, KQL, ES|QL, SPL or an osquery pack",
		Long: `Rule writes the detector's rule in another engine's language, from the same
definition the detector runs: --strict, --extensions and the xrdp mount names
(detector.xrdp_mount_names, --xrdp-mount-names) change the export as they
change the detector. See docs/rules.md for where to paste each format and
what each engine cannot express.

  sigma    one rule per product (Windows and, unless strict, Linux
           process_creation), SigmaHQ conventions
  eql      Elastic EQL for the Elastic rule's index patterns
  kql      Kibana Query Language (case-sensitive: see docs/rules.md)
  esql     Elasticsearch ES|QL
  spl      Splunk search over Sysmon and Security 4688 fields
  osquery  an osquery pack over process_etw_events, bpf_process_events
           and process_events (no tsclientwatch needed on the host)`,
		Example: `  tsclientwatch rule --format sigma --output-dir rules/
  tsclientwatch rule --format osquery > /etc/osquery/packs/tsclient.conf
  tsclientwatch rule --format eql --strict`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format == "" {
				return usageError("rule: --format is required (%s)", strings.Join(formats, ", "))
			}
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			def, err := cfg.Detector.Definition()
			if err != nil {
				return usageError("configuration: %v", err)
			}
			files, err := ruleexport.Export(def, ruleexport.Format(format))
			if err != nil {
				return usageError("rule: %v", err)
			}
			if outDir != "" {
				return writeRuleFiles(cmd, outDir, files)
			}
			out := cmd.OutOrStdout()
			for i, f := range files {
				if i > 0 {
					fmt.Fprint(out, "---\n") // only Sigma has several: a YAML stream
				}
				if _, err := fmt.Fprint(out, f.Content); err != nil {
					return err
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "", "export language: "+strings.Join(formats, ", "))
	f.StringVar(&outDir, "output-dir", "", "write each rule to its conventional file name in this directory instead of standard output")
	f.Bool("strict", false, "export exactly the Elastic query (kernel path form, .exe, event.type start)")
	f.StringSlice("extensions", []string{".exe"}, "executable extensions to match, comma-separated")
	f.StringSlice("xrdp-mount-names", nil, "xrdp client-drive mount directory names, comma-separated (default from the configuration)")
	config.MustBindFlag(f, "strict", "detector.strict")
	config.MustBindFlag(f, "extensions", "detector.extensions")
	config.MustBindFlag(f, "xrdp-mount-names", "detector.xrdp_mount_names")
	return cmd
}

// writeRuleFiles writes each file through a temporary name and a rename,
// so a reader (a SIEM's rule sync, osquery reading its packs) never sees
// half a rule.
func writeRuleFiles(cmd *cobra.Command, dir string, files []ruleexport.File) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return &exitCodeError{code: exitError, err: fmt.Errorf("rule: %w", err)}
	}
	for _, f := range files {
		path := filepath.Join(dir, f.Name)
		tmp, err := os.CreateTemp(dir, "."+f.Name+".*")
		if err != nil {
			return &exitCodeError{code: exitError, err: fmt.Errorf("rule: %w", err)}
		}
		_, werr := tmp.WriteString(f.Content)
		cerr := tmp.Close()
		if err := firstErr(werr, cerr, os.Chmod(tmp.Name(), 0o644), os.Rename(tmp.Name(), path)); err != nil {
			os.Remove(tmp.Name())
			return &exitCodeError{code: exitError, err: fmt.Errorf("rule: write %s: %w", path, err)}
		}
		escape.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", path)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
