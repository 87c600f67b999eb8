package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tsclientwatch/tsclientwatch/config"
)

func init() { subcommands = append(subcommands, newConfigCmd) }

func newConfigCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "Print the effective configuration and the file it came from",
		Long: `Config loads the configuration exactly as the other subcommands do (file,
then TSCLIENTWATCH_* environment variables, then flags), checks it, and prints
the result as YAML that can be saved as a configuration file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			text, err := cfg.YAML()
			if err != nil {
				return &exitCodeError{code: exitError, err: err}
			}
			out := cmd.OutOrStdout()
			// The origin is a YAML comment, so the output stays loadable.
			if cfg.File != "" {
				fmt.Fprintf(out, "# configuration file: %s\n", cfg.File)
			} else {
				def := defaultConfigFile
				if def == "" {
					def = config.DefaultPath()
				}
				fmt.Fprintf(out, "# no configuration file (%s not found): defaults, environment and flags\n", def)
			}
			_, err = out.Write(text)
			return err
		},
	}
}
