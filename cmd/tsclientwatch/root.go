package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/internal/escape"
	"github.com/tsclientwatch/tsclientwatch/internal/version"
)

// Exit codes.
const (
	exitOK        = 0
	exitDetection = 1 // scan --fail-on-detection found something
	exitError     = 2 // an input, a record, the configuration or the usage was wrong
)

// subcommands holds the constructors of every subcommand. Each file adds
// its own from init, so commands can be added without editing this file.
var subcommands []func() *cobra.Command

// defaultConfigFile replaces config.DefaultPath() when set; tests point it
// at a file that does not exist so the host's configuration cannot leak in.
var defaultConfigFile string

// exitCodeError carries an exit code out of a command. An empty message
// means everything worth saying was already printed.
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitCodeError) Unwrap() error { return e.err }

// usageError marks a mistake on the command line.
func usageError(format string, args ...any) error {
	return &exitCodeError{code: exitError, err: fmt.Errorf(format, args...)}
}

// run executes the command line args and returns the process exit code.
// Ctrl-C and SIGTERM cancel the work in progress.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, stdin, stdout, stderr)
}

func runContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	// A panic is a bug, but the user still deserves one line and an exit
	// code rather than a goroutine dump.
	defer func() {
		if p := recover(); p != nil {
			escape.Fprintf(stderr, "tsclientwatch: internal error: %v\n", p)
			code = exitError
		}
	}()
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ec *exitCodeError
	if errors.As(err, &ec) {
		if ec.err != nil {
			escape.Fprintf(stderr, "tsclientwatch: %v\n", ec.err)
		}
		return ec.code
	}
	// Anything else comes from cobra itself: an unknown flag or command,
	// a missing argument.
	escape.Fprintf(stderr, "tsclientwatch: %v\nRun 'tsclientwatch --help' for usage.\n", err)
	return exitError
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "tsclientwatch",
		Short: "Detect programs run from an RDP client's redirected drive",
		Long: `tsclientwatch implements the Elastic rule "Execution via TSClient Mountpoint"
(4fe9d835-40e1-452d-8230-17c147cafad8): a process started from a drive the RDP
client shared with the server (\\tsclient\c\..., \Device\Mup\tsclient\...), or
from xrdp's thinclient_drives mount on Linux.

Configuration is read from --config, else $TSCLIENTWATCH_CONFIG, else
` + config.DefaultPath() + ` (if present); TSCLIENTWATCH_* variables override
the file and flags override both. "tsclientwatch config" shows the result.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Without a subcommand, print help; a stray word is an unknown
		// command (cobra checks Args only for a runnable command).
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		// --version prints the same line as the version subcommand.
		Version: version.Get().String(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	pf := root.PersistentFlags()
	pf.String("config", "", "configuration file (YAML, TOML or JSON)")
	pf.String("log-level", "info", "log level: debug, info, warn or error")
	config.MustBindFlag(pf, "log-level", "log.level")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError("%v (see --help)", err)
	})
	for _, newCmd := range subcommands {
		root.AddCommand(newCmd())
	}
	return root
}

// loadConfig reads the configuration for cmd: its --config flag, the
// environment, and every flag bound to a key with config.BindFlag. Errors
// are usage errors (exit 2).
func loadConfig(cmd *cobra.Command) (config.Config, error) {
	file, _ := cmd.Flags().GetString("config")
	cfg, err := config.Load(config.Options{File: file, DefaultFile: defaultConfigFile, Flags: cmd.Flags()})
	if err != nil {
		return config.Config{}, &exitCodeError{code: exitError, err: fmt.Errorf("configuration: %w", err)}
	}
	return cfg, nil
}

// newLogger returns the logger subcommands use for diagnostics, writing
// text lines to w at the configured level.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	// config has validated the name already; UnmarshalText knows the same
	// four words.
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.Log.Level)))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
