package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/tsclientwatch/tsclientwatch/collect"
	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/internal/escape"
	"github.com/tsclientwatch/tsclientwatch/source/live"
	"github.com/tsclientwatch/tsclientwatch/source/osqueryevents"
	"github.com/tsclientwatch/tsclientwatch/sqlquery"
	"github.com/tsclientwatch/tsclientwatch/store"
	"github.com/tsclientwatch/tsclientwatch/tables"
)

func init() { subcommands = append(subcommands, newQueryCmd) }

// stdinIsTerminal tells whether the SQL should come from an interactive
// prompt; tests replace it.
var stdinIsTerminal = func(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

func newQueryCmd() *cobra.Command {
	var (
		replays []string
		live    bool
		format  string
		csvRaw  bool
	)
	cmd := &cobra.Command{
		Use:   "query [flags] [SQL]",
		Short: "Run SQL over the detection tables, without osquery",
		Long: `Query loads events into the detection store and answers SQL over the same
tables the osquery extension serves: tsclient_executions (one row per program
run from an RDP client drive) and tsclientwatch_status (one row per source,
plus the store).

Events come from --replay files or directories (EVTX, Windows event XML, JSON)
and --live; when neither is given, from the sources in the configuration.
Replays are read to the end before the SQL runs.

The SQL comes from the argument; without one, from an interactive prompt when
standard input is a terminal (.help lists its commands), else from standard
input. Several statements may be separated by ';'.

Examples:
  tsclientwatch query --replay testdata "SELECT time, path, client_drive, form, source FROM tsclient_executions"
  tsclientwatch query --replay Security.evtx --format json "SELECT form, count(*) AS n FROM tsclient_executions GROUP BY form"
  tsclientwatch query --replay logs/ "SELECT * FROM tsclientwatch_status"`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := sqlquery.ParseFormat(format)
			if err != nil {
				return usageError("--format: %v", err)
			}
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if len(replays) > 0 || live {
				// Flags override the configuration, as everywhere else.
				cfg.Sources = nil
				for _, p := range replays {
					cfg.Sources = append(cfg.Sources, config.SourceConfig{Type: config.SourceFile, Path: p})
				}
				if live {
					cfg.Sources = append(cfg.Sources, config.SourceConfig{Type: config.SourceLive})
				}
			}
			q := &querySession{
				stdin:  cmd.InOrStdin(),
				stdout: cmd.OutOrStdout(),
				stderr: cmd.ErrOrStderr(),
				format: f,
				csvRaw: csvRaw,
			}
			return q.run(cmd.Context(), cfg, args)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&replays, "replay", nil, "event log file or directory to load (repeatable)")
	fl.BoolVar(&live, "live", false, "also watch process starts live")
	fl.StringVar(&format, "format", "table", "output format: table, json or csv")
	fl.BoolVar(&csvRaw, "csv-raw", false, "CSV: write cells that start like a spreadsheet formula (= + - @) as they are, without the leading '")
	return cmd
}

// querySession is one run of the query command.
type querySession struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	format         sqlquery.Format
	csvRaw         bool
	db             *sqlquery.DB
	collector      *collect.Collector
}

func (q *querySession) run(ctx context.Context, cfg config.Config, args []string) error {
	det, closeDetector, err := buildDetector(ctx, cfg, q.stderr)
	if err != nil {
		return &exitCodeError{code: exitError, err: fmt.Errorf("detector: %w", err)}
	}
	defer closeDetector()
	st := store.New(store.Options{MaxEvents: cfg.Store.MaxEvents, MaxBytes: cfg.Store.MaxBytes, Expiry: cfg.Store.Expiry})
	c, err := collect.New(collect.Options{Sources: cfg.Sources, Detector: det, Store: st,
		OpenLive: collect.LiveOpener(live.Options{MountNames: cfg.Detector.XrdpMountNames, XrdpSesmanLog: cfg.Attribution.XrdpSesmanLog}), OpenOsquery: collect.OsqueryOpener(osqueryevents.DefaultSocket()),
		MaxRecordBytes: cfg.Input.MaxRecordBytes, MaxSpool: cfg.Input.MaxSpool, Evidence: cfg.Evidence})
	if err != nil {
		return &exitCodeError{code: exitError, err: err}
	}
	q.collector = c
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		c.Run(ctx)
	}()
	defer func() {
		c.Close()
		<-runDone
	}()
	select {
	case <-c.Ready():
	case <-ctx.Done():
		return &exitCodeError{code: exitError, err: ctx.Err()}
	}
	q.reportSources()

	status := func() []tables.SourceStatus { return append(c.Status(), tables.StoreStatus(st)) }
	db, err := sqlquery.Open(ctx, tables.Executions(st), tables.Status(status))
	if err != nil {
		return &exitCodeError{code: exitError, err: err}
	}
	defer db.Close()
	q.db = db

	switch {
	case len(args) == 1:
		return q.runScript(ctx, args[0])
	case stdinIsTerminal(q.stdin):
		return q.repl(ctx)
	default:
		sql, err := io.ReadAll(q.stdin)
		if err != nil {
			return &exitCodeError{code: exitError, err: fmt.Errorf("read SQL from standard input: %w", err)}
		}
		return q.runScript(ctx, string(sql))
	}
}

// reportSources tells on standard error about sources that could not be
// read, or read with errors; the details stay queryable in
// tsclientwatch_status.
func (q *querySession) reportSources() {
	for _, s := range q.collector.Status() {
		if s.Warning != "" {
			what := s.Type
			if s.Target != "" && s.Target != s.Type {
				what += " " + s.Target
			}
			fmt.Fprintf(q.stderr, "tsclientwatch: source %s: warning: %s\n", what, s.Warning)
		}
		if s.Errors == 0 && s.State != collect.StateFailed && s.State != collect.StateUnavailable && s.State != collect.StateRestarting {
			continue
		}
		what := s.Type
		if s.Target != "" && s.Target != s.Type {
			what += " " + s.Target
		}
		escape.Fprintf(q.stderr, "tsclientwatch: source %s: %s, %d error(s); last: %s\n", what, s.State, s.Errors, s.LastError)
	}
}

// runScript runs every statement of script, printing each result. It stops
// at the first error.
func (q *querySession) runScript(ctx context.Context, script string) error {
	stmts, rest := splitStatements(script)
	if rest = strings.TrimSpace(rest); rest != "" {
		stmts = append(stmts, rest)
	}
	if len(stmts) == 0 {
		return usageError("no SQL given (pass a statement, or pipe it on standard input)")
	}
	for _, s := range stmts {
		if err := q.exec(ctx, s); err != nil {
			return &exitCodeError{code: exitError, err: err}
		}
	}
	return nil
}

// exec runs one statement and prints its result.
func (q *querySession) exec(ctx context.Context, stmt string) error {
	cols, rows, err := q.db.Query(ctx, stmt)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	if len(cols) == 0 {
		return nil // a statement without a result (PRAGMA, CREATE TEMP VIEW...)
	}
	return sqlquery.Write(q.stdout, q.format, cols, rows, sqlquery.Options{CSVRaw: q.csvRaw})
}

const (
	prompt     = "tsclientwatch> "
	contPrompt = "          ...> "
)

const replHelp = `Enter SQL statements terminated with ";" (they may span lines), or:
.tables               list the tables
.schema [TABLE]       show the CREATE statement of TABLE (or of all tables)
.mode table|json|csv  set the output format
.status               show the sources and the store (SELECT * FROM tsclientwatch_status)
.help                 show this text
.quit                 leave (also .exit or end of input)
`

// repl is the interactive prompt, in the manner of osqueryi.
func (q *querySession) repl(ctx context.Context) error {
	fmt.Fprintf(q.stdout, "tsclientwatch SQL over %s and %s. Enter \".help\" for instructions.\n",
		tables.ExecutionsName, tables.StatusName)
	// Lines are read in their own goroutine so that Ctrl-C (which ends
	// ctx) is noticed at the prompt, not only after the next Enter.
	// The goroutine ends at end of input or when the prompt is left (a
	// read already blocked on a terminal ends with the process).
	lines := make(chan string)
	readErr := make(chan error, 1)
	left := make(chan struct{})
	defer close(left)
	go func() {
		sc := bufio.NewScanner(q.stdin)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-left:
				return
			}
		}
		readErr <- sc.Err()
		close(lines)
	}()

	var pending strings.Builder
	for {
		if pending.Len() == 0 {
			fmt.Fprint(q.stdout, prompt)
		} else {
			fmt.Fprint(q.stdout, contPrompt)
		}
		var line string
		var ok bool
		select {
		case <-ctx.Done():
			fmt.Fprintln(q.stdout)
			return nil
		case line, ok = <-lines:
		}
		if !ok {
			fmt.Fprintln(q.stdout)
			if err := <-readErr; err != nil {
				return &exitCodeError{code: exitError, err: fmt.Errorf("read standard input: %w", err)}
			}
			return nil
		}
		if pending.Len() == 0 && strings.HasPrefix(strings.TrimSpace(line), ".") {
			if quit := q.dotCommand(ctx, strings.Fields(strings.TrimSpace(line))); quit {
				return nil
			}
			continue
		}
		pending.WriteString(line)
		pending.WriteString("\n")
		stmts, rest := splitStatements(pending.String())
		pending.Reset()
		if strings.TrimSpace(rest) != "" {
			pending.WriteString(rest)
		}
		for _, s := range stmts {
			if err := q.exec(ctx, s); err != nil {
				escape.Fprintf(q.stderr, "Error: %v\n", err)
			}
		}
	}
}

// dotCommand runs one of the prompt's own commands and reports whether it
// asks to leave.
func (q *querySession) dotCommand(ctx context.Context, f []string) (quit bool) {
	switch f[0] {
	case ".quit", ".exit", ".q":
		return true
	case ".help":
		fmt.Fprint(q.stdout, replHelp)
	case ".tables":
		for _, t := range q.db.Tables() {
			fmt.Fprintf(q.stdout, "  => %s\n", t.Name)
		}
	case ".schema":
		names := f[1:]
		if len(names) == 0 {
			for _, t := range q.db.Tables() {
				names = append(names, t.Name)
			}
		}
		for _, n := range names {
			s, ok := q.db.Schema(n)
			if !ok {
				escape.Fprintf(q.stderr, "Error: no table %q (see .tables)\n", n)
				continue
			}
			fmt.Fprintf(q.stdout, "%s;\n", s)
		}
	case ".mode":
		if len(f) != 2 {
			fmt.Fprintf(q.stdout, "current output mode: %s\n", q.format)
			break
		}
		m := f[1]
		if m == "pretty" { // osqueryi's name for the bordered table
			m = string(sqlquery.FormatTable)
		}
		format, err := sqlquery.ParseFormat(m)
		if err != nil {
			escape.Fprintf(q.stderr, "Error: %v\n", err)
			break
		}
		q.format = format
	case ".status":
		if err := q.exec(ctx, "SELECT * FROM "+tables.StatusName); err != nil {
			escape.Fprintf(q.stderr, "Error: %v\n", err)
		}
	default:
		escape.Fprintf(q.stderr, "Error: unknown command %q (.help lists them)\n", f[0])
	}
	return false
}

// splitStatements cuts script into complete statements, each ending at a
// ';' outside quotes, identifiers in brackets or backquotes, and comments.
// rest is what follows the last complete statement. Empty statements are
// dropped.
func splitStatements(script string) (stmts []string, rest string) {
	start := 0
	for i := 0; i < len(script); i++ {
		switch c := script[i]; c {
		case '\'', '"', '`':
			j := strings.IndexByte(script[i+1:], c)
			if j < 0 {
				return stmts, script[start:] // unterminated: wait for more
			}
			i += j + 1 // a doubled quote is two adjacent quoted runs
		case '[':
			j := strings.IndexByte(script[i+1:], ']')
			if j < 0 {
				return stmts, script[start:]
			}
			i += j + 1
		case '-':
			if i+1 < len(script) && script[i+1] == '-' {
				j := strings.IndexByte(script[i:], '\n')
				if j < 0 {
					return stmts, script[start:]
				}
				i += j
			}
		case '/':
			if i+1 < len(script) && script[i+1] == '*' {
				j := strings.Index(script[i+2:], "*/")
				if j < 0 {
					return stmts, script[start:]
				}
				i += j + 3
			}
		case ';':
			if s := strings.TrimSpace(script[start:i]); s != "" && !onlyComments(s) {
				stmts = append(stmts, s)
			}
			start = i + 1
		}
	}
	rest = script[start:]
	if onlyComments(strings.TrimSpace(rest)) {
		rest = ""
	}
	return stmts, rest
}

// onlyComments reports whether s holds nothing but SQL comments and space.
func onlyComments(s string) bool {
	for {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
			return true
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return true
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s, "*/")
			if i < 0 {
				return true
			}
			s = s[i+2:]
		default:
			return false
		}
	}
}
