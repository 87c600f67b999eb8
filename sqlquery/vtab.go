package sqlquery

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/osquery/osquery-go/plugin/table"
	"modernc.org/sqlite/vtab"

	"github.com/tsclientwatch/tsclientwatch/tables"
)

// module creates the virtual tables. Its single argument is the id of the
// DB whose table of the same name it serves.
type module struct{}

func (module) Create(ctx vtab.Context, args []string) (vtab.Table, error) { return connect(ctx, args) }

func (module) Connect(ctx vtab.Context, args []string) (vtab.Table, error) { return connect(ctx, args) }

func connect(ctx vtab.Context, args []string) (vtab.Table, error) {
	// args: module name, database name, table name, module arguments.
	if len(args) != 4 {
		return nil, fmt.Errorf("%s: want one module argument (the DB id), got %d", moduleName, len(args)-3)
	}
	id, err := strconv.ParseUint(strings.TrimSpace(args[3]), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%s: bad DB id %q", moduleName, args[3])
	}
	v, ok := open.Load(id)
	if !ok {
		return nil, fmt.Errorf("%s: DB %d is closed", moduleName, id)
	}
	db := v.(*DB)
	t, ok := db.byName[args[2]]
	if !ok {
		return nil, fmt.Errorf("%s: no table %q", moduleName, args[2])
	}
	if err := ctx.Declare(schema(t)); err != nil {
		return nil, fmt.Errorf("%s: declare %s: %w", moduleName, t.Name, err)
	}
	return &vtable{db: db, t: t}, nil
}

// schema is the CREATE TABLE statement declaring t to SQLite, with osquery's
// type names (BIGINT gives integer affinity) and HIDDEN columns as osquery
// declares them.
func schema(t *tables.Table) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE ")
	b.WriteString(quoteIdent(t.Name))
	b.WriteString("(")
	for i, c := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(c.Name))
		b.WriteString(" ")
		typ := string(c.Type)
		if typ == "" {
			typ = string(table.ColumnTypeText)
		}
		b.WriteString(typ)
		if c.Hidden {
			b.WriteString(" HIDDEN")
		}
	}
	b.WriteString(")")
	return b.String()
}

// vtable is one table on one connection.
type vtable struct {
	db *DB
	t  *tables.Table
}

// osqueryOp maps SQLite's constraint operators to osquery's codes. Others
// (!=, IS, IS NULL, LIMIT...) are left to SQLite, as osquery leaves them.
func osqueryOp(op vtab.ConstraintOp) (table.Operator, bool) {
	switch op {
	case vtab.OpEQ:
		return table.OperatorEquals, true
	case vtab.OpGT:
		return table.OperatorGreaterThan, true
	case vtab.OpLE:
		return table.OperatorLessThanOrEquals, true
	case vtab.OpLT:
		return table.OperatorLessThan, true
	case vtab.OpGE:
		return table.OperatorGreaterThanOrEquals, true
	case vtab.OpMATCH:
		return table.OperatorMatch, true
	case vtab.OpLIKE:
		return table.OperatorLike, true
	case vtab.OpGLOB:
		return table.OperatorGlob, true
	case vtab.OpREGEXP:
		return table.OperatorRegexp, true
	}
	return 0, false
}

// BestIndex asks SQLite to pass every usable constraint with an osquery
// operator to Filter. The plan (column and operator of each argument) is
// written into IdxStr as "col:op,col:op". No constraint is omitted: SQLite
// re-checks every row, as osquery does, so Generate may narrow loosely.
func (v *vtable) BestIndex(info *vtab.IndexInfo) error {
	var plan strings.Builder
	n := 0
	cost := 1e6
	for i := range info.Constraints {
		c := &info.Constraints[i]
		if !c.Usable || c.Column < 0 || c.Column >= len(v.t.Columns) {
			continue
		}
		op, ok := osqueryOp(c.Op)
		if !ok {
			continue
		}
		if isRange(op) && !isNumeric(v.t.Columns[c.Column].Type) {
			// osquery does not send <, >, <=, >= on text columns (SQLite
			// derives them from LIKE prefixes); neither do we.
			continue
		}
		c.ArgIndex = n
		c.Omit = false
		n++
		fmt.Fprintf(&plan, "%d:%d,", c.Column, op)
		// Make plans that hand Generate a constraint cheaper, the more so
		// for equality and indexed columns, so that in joins SQLite feeds
		// values into this table rather than scanning it per outer row.
		div := 2.0
		if op == table.OperatorEquals {
			div = 10
		}
		if v.t.Columns[c.Column].Index {
			div *= 10
		}
		cost /= div
	}
	info.IdxNum = int64(n)
	info.IdxStr = plan.String()
	info.EstimatedCost = math.Max(cost, 1)
	info.EstimatedRows = int64(math.Max(cost, 1))
	return nil
}

func isRange(op table.Operator) bool {
	switch op {
	case table.OperatorGreaterThan, table.OperatorGreaterThanOrEquals, table.OperatorLessThan, table.OperatorLessThanOrEquals:
		return true
	}
	return false
}

func isNumeric(t table.ColumnType) bool {
	switch t {
	case table.ColumnTypeInteger, table.ColumnTypeBigInt, table.ColumnTypeUnsignedBigInt, table.ColumnTypeDouble:
		return true
	}
	return false
}

func (v *vtable) Open() (vtab.Cursor, error) { return &cursor{v: v}, nil }

func (v *vtable) Disconnect() error { return nil }

func (v *vtable) Destroy() error { return nil }

// cursor holds the rows of one Generate call.
type cursor struct {
	v    *vtable
	rows []map[string]string
	pos  int
}

type planTerm struct {
	col int
	op  table.Operator
}

func parsePlan(s string, ncols int) ([]planTerm, error) {
	var terms []planTerm
	for _, f := range strings.Split(strings.TrimSuffix(s, ","), ",") {
		if f == "" {
			continue
		}
		col, op, ok := strings.Cut(f, ":")
		c, err1 := strconv.Atoi(col)
		o, err2 := strconv.Atoi(op)
		if !ok || err1 != nil || err2 != nil || c < 0 || c >= ncols {
			return nil, fmt.Errorf("bad index plan %q", s)
		}
		terms = append(terms, planTerm{col: c, op: table.Operator(o)})
	}
	return terms, nil
}

// Filter builds the osquery QueryContext from the plan and the constraint
// values, then runs Generate.
func (c *cursor) Filter(idxNum int, idxStr string, vals []vtab.Value) error {
	cols := c.v.t.Columns
	terms, err := parsePlan(idxStr, len(cols))
	if err != nil {
		return err
	}
	if len(terms) != idxNum || len(vals) < len(terms) {
		return fmt.Errorf("index plan %q does not match %d values", idxStr, len(vals))
	}
	qc := queryContext(cols, terms, vals)
	rows, err := generate(c.v.db.queryContext(), c.v.t, qc)
	if err != nil {
		return err
	}
	c.rows, c.pos = rows, 0
	return nil
}

// queryContext is the QueryContext osquery would send: every column is
// listed with its affinity, constrained ones with their constraints.
func queryContext(cols []table.ColumnDefinition, terms []planTerm, vals []vtab.Value) table.QueryContext {
	qc := table.QueryContext{Constraints: make(map[string]table.ConstraintList, len(cols))}
	for _, col := range cols {
		qc.Constraints[col.Name] = table.ConstraintList{Affinity: col.Type}
	}
	for i, t := range terms {
		expr, ok := exprText(vals[i])
		if !ok {
			// A NULL operand matches nothing; SQLite discards the rows.
			continue
		}
		name := cols[t.col].Name
		cl := qc.Constraints[name]
		cl.Constraints = append(cl.Constraints, table.Constraint{Operator: t.op, Expression: expr})
		qc.Constraints[name] = cl
	}
	return qc
}

// exprText renders a constraint value the way sqlite3_value_text does, which
// is what osquery puts in "expr".
func exprText(v vtab.Value) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case string:
		// Values may be views into SQLite memory: copy.
		return strings.Clone(x), true
	case []byte:
		return string(x), true
	case bool:
		if x {
			return "1", true
		}
		return "0", true
	default:
		return fmt.Sprint(x), true
	}
}

// generate calls t.Generate and turns a panic into an error, so no panic in a
// table reaches SQLite's callback machinery or the user.
func generate(ctx context.Context, t *tables.Table, qc table.QueryContext) (rows []map[string]string, err error) {
	defer func() {
		if r := recover(); r != nil {
			rows, err = nil, fmt.Errorf("table %s: generate panicked: %v", t.Name, r)
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err = t.Generate(ctx, qc)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", t.Name, err)
	}
	return rows, nil
}

func (c *cursor) Next() error {
	if c.pos < len(c.rows) {
		c.pos++
	}
	return nil
}

func (c *cursor) Eof() bool { return c.pos >= len(c.rows) }

// Column converts the string Generate returned into the column's type, as
// osquery does: integer columns become integers (NULL when empty or not a
// number), DOUBLE becomes a float, the rest stays text.
func (c *cursor) Column(col int) (vtab.Value, error) {
	if c.pos >= len(c.rows) || col < 0 || col >= len(c.v.t.Columns) {
		return nil, nil
	}
	def := &c.v.t.Columns[col]
	s, ok := c.rows[c.pos][def.Name]
	if !ok {
		return nil, nil
	}
	return columnValue(def.Type, s), nil
}

func columnValue(typ table.ColumnType, s string) vtab.Value {
	switch typ {
	case table.ColumnTypeInteger, table.ColumnTypeBigInt:
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
		return nil
	case table.ColumnTypeUnsignedBigInt:
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			return int64(n) // SQLite has no unsigned type; osquery wraps too
		}
		return nil
	case table.ColumnTypeDouble:
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
		return nil
	}
	return s
}

func (c *cursor) Rowid() (int64, error) { return int64(c.pos) + 1, nil }

func (c *cursor) Close() error {
	c.rows = nil
	return nil
}
