// Package tables defines the osquery tables tsclientwatch serves:
// tsclient_executions (the stored detections) and tsclientwatch_status (one
// row per event source plus one for the store). A Table is plain data — a
// name, columns and a generate function in osquery-go's form — so the
// osquery extension and the embedded SQLite path serve the very same code.
//
// Every generate function is wrapped once, here, with a timeout, a small
// concurrency limit and panic recovery: osquery calls generate concurrently
// (once per JOIN row and per IN value), and a panic must reach the caller as
// an error, never take the extension down.
package tables

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/osquery/osquery-go/plugin/table"
)

// Table is one osquery table: its name, columns in the order users see
// them, and its (already guarded) generate function.
type Table struct {
	Name     string
	Columns  []table.ColumnDefinition
	Generate table.GenerateFunc
	// Description is the one-line table description used in specs.
	Description string
}

// Plugin returns t as an osquery-go table plugin, ready to register with an
// extension server.
func (t Table) Plugin() *table.Plugin {
	return table.NewPlugin(t.Name, t.Columns, t.Generate,
		table.WithDescription(t.Description),
		table.WithPlatforms(table.LinuxPlatform, table.WindowsPlatform, table.DarwinPlatform))
}

// GenerateTimeout bounds one generate call; MaxConcurrent bounds how many run
// at once across all tables (the rest wait for a slot, within the timeout).
// osquery's own default query timeout is far longer, but a generate over the
// in-memory store takes milliseconds: anything near this bound is a bug or a
// starved host, and failing beats holding osquery's worker thread.
const (
	GenerateTimeout = 30 * time.Second
	MaxConcurrent   = 4
)

var slots = make(chan struct{}, MaxConcurrent)

// abandoned counts generate calls that overran their deadline and still
// run: guard has returned their error and freed their slot, but cannot
// stop a function that ignores its context (one blocked in a system call,
// say). Past MaxConcurrent of them, new calls are refused at once rather
// than piling up goroutines behind a stuck dependency.
var abandoned atomic.Int64

// guard wraps gen with the timeout, the concurrency limit, panic recovery
// and debug logging of the constraints and result size. It returns when
// the deadline passes whatever gen is doing: gen runs on its own goroutine,
// and one that overruns is left to finish in the background (its result is
// dropped), so a stuck generate costs neither the caller nor the slot.
func guard(name string, gen table.GenerateFunc) table.GenerateFunc {
	return func(ctx context.Context, qc table.QueryContext) ([]map[string]string, error) {
		ctx, cancel := context.WithTimeout(ctx, GenerateTimeout)
		defer cancel()
		if n := abandoned.Load(); n >= MaxConcurrent {
			return nil, fmt.Errorf("%s: %d earlier generate calls are still running past their deadline; not starting another", name, n)
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: waiting for a generate slot: %w", name, ctx.Err())
		}
		type result struct {
			rows []map[string]string
			err  error
		}
		done := make(chan result, 1)
		start := time.Now()
		go func() {
			var r result
			defer func() {
				if p := recover(); p != nil {
					slog.Error("generate panicked", "table", name, "panic", p, "stack", string(debug.Stack()))
					r = result{err: fmt.Errorf("%s: internal error: %v", name, p)}
				}
				slog.Debug("generate", "table", name, "constraints", describe(qc),
					"rows", len(r.rows), "took", time.Since(start), "err", r.err)
				done <- r
			}()
			r.rows, r.err = gen(ctx, qc)
		}()
		select {
		case r := <-done:
			<-slots
			return r.rows, r.err
		case <-ctx.Done():
			<-slots
			abandoned.Add(1)
			go func() {
				<-done
				abandoned.Add(-1)
			}()
			slog.Warn("generate abandoned past its deadline", "table", name, "took", time.Since(start))
			return nil, fmt.Errorf("%s: generate did not finish: %w", name, ctx.Err())
		}
	}
}

// describe renders the constraints of qc for logs: "time>=1700000000 pid=4".
func describe(qc table.QueryContext) string {
	var b strings.Builder
	for col, cl := range qc.Constraints {
		for _, c := range cl.Constraints {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(col)
			b.WriteString(opName(c.Operator))
			b.WriteString(c.Expression)
		}
	}
	return b.String()
}

func opName(op table.Operator) string {
	switch op {
	case table.OperatorEquals:
		return "="
	case table.OperatorGreaterThan:
		return ">"
	case table.OperatorGreaterThanOrEquals:
		return ">="
	case table.OperatorLessThan:
		return "<"
	case table.OperatorLessThanOrEquals:
		return "<="
	case table.OperatorLike:
		return " LIKE "
	case table.OperatorGlob:
		return " GLOB "
	case table.OperatorMatch:
		return " MATCH "
	case table.OperatorRegexp:
		return " REGEXP "
	}
	return fmt.Sprintf(" op%d ", int(op))
}

// Bounds is an inclusive integer range. Lo > Hi means no value can match.
type Bounds struct{ Lo, Hi int64 }

// Unbounded is the range every integer falls in.
var Unbounded = Bounds{Lo: math.MinInt64, Hi: math.MaxInt64}

// Empty reports whether no integer falls within b.
func (b Bounds) Empty() bool { return b.Lo > b.Hi }

// IntBounds folds the =, >, >=, < and <= constraints on column into one
// range (constraints AND together). Everything else is left to SQLite,
// which osquery and the embedded path both run over the returned rows
// anyway, so narrowing here only needs to keep a superset:
//   - an expression that is not a number in SQLite's own text grammar is
//     ignored (no narrowing). osquery passes every value as text, and SQLite
//     converts text to a number for an integer column only when it is a
//     well-formed decimal literal; any other text compares greater than
//     every integer, so "time < 'x'" selects all rows. Go's parsers accept
//     more ("inf", "0x1p4", Unicode spaces), hence the stricter check;
//   - a fractional number narrows to the integers that satisfy it, and
//     "= 1.5" matches nothing;
//   - LIKE, GLOB, MATCH, REGEXP are ignored.
func IntBounds(qc table.QueryContext, column string) Bounds {
	b := Unbounded
	cl, ok := qc.Constraints[column]
	if !ok {
		return b
	}
	for _, c := range cl.Constraints {
		lo, hi, ok := opBounds(c.Operator, c.Expression)
		if !ok {
			continue
		}
		b.Lo = max(b.Lo, lo)
		b.Hi = min(b.Hi, hi)
	}
	return b
}

// opBounds returns the integer range "x op expr" selects.
func opBounds(op table.Operator, expr string) (lo, hi int64, ok bool) {
	lo, hi = math.MinInt64, math.MaxInt64
	expr, ok = sqliteNumber(expr)
	if !ok {
		return lo, hi, false
	}
	if n, err := strconv.ParseInt(expr, 10, 64); err == nil {
		switch op {
		case table.OperatorEquals:
			return n, n, true
		case table.OperatorGreaterThan:
			if n == math.MaxInt64 {
				return 1, 0, true
			}
			return n + 1, hi, true
		case table.OperatorGreaterThanOrEquals:
			return n, hi, true
		case table.OperatorLessThan:
			if n == math.MinInt64 {
				return 1, 0, true
			}
			return lo, n - 1, true
		case table.OperatorLessThanOrEquals:
			return lo, n, true
		}
		return lo, hi, false
	}
	f, err := strconv.ParseFloat(expr, 64)
	if err != nil || math.IsNaN(f) {
		return lo, hi, false
	}
	fl, ce := clamp(math.Floor(f)), clamp(math.Ceil(f))
	switch op {
	case table.OperatorEquals:
		if fl != ce || math.IsInf(f, 0) {
			return 1, 0, true
		}
		return fl, fl, true
	case table.OperatorGreaterThan:
		if fl == math.MaxInt64 {
			return 1, 0, true
		}
		return fl + 1, hi, true
	case table.OperatorGreaterThanOrEquals:
		return ce, hi, true
	case table.OperatorLessThan:
		if ce == math.MinInt64 {
			return 1, 0, true
		}
		return lo, ce - 1, true
	case table.OperatorLessThanOrEquals:
		return lo, fl, true
	}
	return lo, hi, false
}

// clamp converts an integral float to int64, saturating at the ends.
func clamp(f float64) int64 {
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}

// sqliteNumber trims the white space SQLite skips around a number (ASCII
// only) and reports whether what is left is a decimal literal SQLite would
// convert to a number: [+-] digits [. digits] [e [+-] digits], with at
// least one mantissa digit. Anything else (hexadecimal, inf, NaN, digit
// separators, Unicode spaces) stays text to SQLite.
func sqliteNumber(expr string) (string, bool) {
	expr = strings.Trim(expr, " \t\n\v\f\r")
	i, digits := 0, 0
	if i < len(expr) && (expr[i] == '+' || expr[i] == '-') {
		i++
	}
	for ; i < len(expr) && expr[i] >= '0' && expr[i] <= '9'; i++ {
		digits++
	}
	if i < len(expr) && expr[i] == '.' {
		for i++; i < len(expr) && expr[i] >= '0' && expr[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return expr, false
	}
	if i < len(expr) && (expr[i] == 'e' || expr[i] == 'E') {
		i++
		if i < len(expr) && (expr[i] == '+' || expr[i] == '-') {
			i++
		}
		exp := 0
		for ; i < len(expr) && expr[i] >= '0' && expr[i] <= '9'; i++ {
			exp++
		}
		if exp == 0 {
			return expr, false
		}
	}
	return expr, i == len(expr)
}
