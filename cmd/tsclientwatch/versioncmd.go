package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tsclientwatch/tsclientwatch/internal/version"
)

func init() { subcommands = append(subcommands, newVersionCmd) }

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date",
		Long: `Version prints the version, commit and build date stamped into this binary
by scripts/release.sh, the Go toolchain that built it and the platform. A
build without the stamp reports what Go recorded ("dev" when nothing was).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), version.Get())
			return err
		},
	}
}
