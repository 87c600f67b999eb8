// Package sqlquery answers SQL over the project's tables without osquery: each
// tables.Table becomes a modernc.org/sqlite virtual table whose xFilter calls
// the table's own Generate function. SQLite's index constraints are
// translated into osquery-go's table.QueryContext, with osquery's operator
// codes, so the extension and the embedded path share one generate function
// and one way of reading WHERE clauses.
package sqlquery

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"modernc.org/sqlite"

	"github.com/tsclientwatch/tsclientwatch/tables"
)

// moduleName is the one vtab module this package registers. Every table of
// every DB is created from it; the module argument says which DB, so the
// process-global module registry never grows with the number of DBs.
const moduleName = "tsclientwatch"

var (
	// drv is a private driver so the module does not leak into connections
	// other code opens through the "sqlite" driver.
	drv          = new(sqlite.Driver)
	registerOnce sync.Once
	registerErr  error

	// open maps a DB id (the module argument) to its DB while it is open.
	open   sync.Map // uint64 -> *DB
	lastID atomic.Uint64
)

// DB is an in-memory SQLite database whose tables are the project's tables.
// It is safe for concurrent use; queries run one at a time, because SQLite's
// virtual-table callbacks carry no context of their own and the DB hands them
// the context of the query that is running.
type DB struct {
	id     uint64
	sql    *sql.DB
	tables []tables.Table
	byName map[string]*tables.Table

	mu     sync.Mutex // serializes queries; guards ctx
	ctx    context.Context
	closed bool
}

// Open builds a DB serving tbls. Table names must be unique and valid SQL
// identifiers. ctx bounds the creation of the first connection only.
func Open(ctx context.Context, tbls ...tables.Table) (*DB, error) {
	registerOnce.Do(func() { registerErr = drv.RegisterModule(moduleName, module{}) })
	if registerErr != nil {
		return nil, fmt.Errorf("sqlquery: register module: %w", registerErr)
	}
	d := &DB{
		id:     lastID.Add(1),
		tables: append([]tables.Table(nil), tbls...),
		byName: make(map[string]*tables.Table, len(tbls)),
		ctx:    context.Background(),
	}
	for i := range d.tables {
		t := &d.tables[i]
		if !validIdent(t.Name) {
			return nil, fmt.Errorf("sqlquery: table name %q is not a plain SQL identifier", t.Name)
		}
		if _, dup := d.byName[t.Name]; dup {
			return nil, fmt.Errorf("sqlquery: table %q given twice", t.Name)
		}
		if len(t.Columns) == 0 || t.Generate == nil {
			return nil, fmt.Errorf("sqlquery: table %q has no columns or no generate function", t.Name)
		}
		d.byName[t.Name] = t
	}
	open.Store(d.id, d)
	d.sql = sql.OpenDB(connector{db: d})
	// One connection: temp tables exist per connection, and the vtab
	// callbacks read d.ctx, which only one running query may own.
	d.sql.SetMaxOpenConns(1)
	d.sql.SetMaxIdleConns(1)
	d.sql.SetConnMaxLifetime(0)
	d.sql.SetConnMaxIdleTime(0)
	if err := d.sql.PingContext(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("sqlquery: open: %w", err)
	}
	return d, nil
}

// Close releases the database. Queries after Close fail.
func (d *DB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	err := d.sql.Close()
	open.Delete(d.id)
	return err
}

// Tables returns the tables d serves, in the order given to Open.
func (d *DB) Tables() []tables.Table { return append([]tables.Table(nil), d.tables...) }

// Schema returns the CREATE TABLE statement that declares the table name to
// SQLite, and whether d has such a table.
func (d *DB) Schema(name string) (string, bool) {
	t, ok := d.byName[name]
	if !ok {
		return "", false
	}
	return schema(t), true
}

// Error is a statement SQLite refused or failed to run. Its text names the
// statement.
type Error struct {
	SQL string
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%v (in %q)", e.Err, e.SQL)
}

func (e *Error) Unwrap() error { return e.Err }

// Query runs one SQL statement and returns its column names and rows. Values
// are int64, float64, string, []byte or nil, so BIGINT columns come back as
// integers. An error SQLite reports comes back as an *Error naming the SQL;
// ctx cancels the statement and the Generate calls it makes.
func (d *DB) Query(ctx context.Context, query string) (columns []string, rows [][]any, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, nil, errors.New("sqlquery: query on closed DB")
	}
	d.ctx = ctx
	defer func() { d.ctx = context.Background() }()

	rs, err := d.sql.QueryContext(ctx, query)
	if err != nil {
		return nil, nil, d.wrap(ctx, query, err)
	}
	defer rs.Close()
	columns, err = rs.Columns()
	if err != nil {
		return nil, nil, d.wrap(ctx, query, err)
	}
	for rs.Next() {
		vals := make([]any, len(columns))
		ptrs := make([]any, len(columns))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, nil, d.wrap(ctx, query, err)
		}
		rows = append(rows, vals)
	}
	if err := rs.Err(); err != nil {
		return nil, nil, d.wrap(ctx, query, err)
	}
	if err := rs.Close(); err != nil {
		return nil, nil, d.wrap(ctx, query, err)
	}
	return columns, rows, nil
}

// wrap names the statement in err, preferring ctx's own error when the
// statement stopped because ctx ended (SQLite only says "interrupted").
func (d *DB) wrap(ctx context.Context, query string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		err = fmt.Errorf("%w: %v", ctxErr, err)
	}
	return &Error{SQL: query, Err: err}
}

// queryContext returns the context of the running query, for Generate.
func (d *DB) queryContext() context.Context {
	// Read without d.mu: the vtab callbacks run inside Query, on the
	// goroutine that holds the lock and set the field.
	return d.ctx
}

// connector opens connections of the private driver and declares the DB's
// tables on each, since temp tables belong to one connection.
type connector struct{ db *DB }

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := drv.Open(":memory:")
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		conn.Close()
		return nil, errors.New("sqlite connection does not implement ExecerContext")
	}
	for i := range c.db.tables {
		name := c.db.tables[i].Name
		stmt := fmt.Sprintf(`CREATE VIRTUAL TABLE temp.%s USING %s(%d)`, quoteIdent(name), moduleName, c.db.id)
		if _, err := ex.ExecContext(ctx, stmt, nil); err != nil {
			conn.Close()
			return nil, fmt.Errorf("create table %s: %w", name, err)
		}
	}
	return conn, nil
}

func (c connector) Driver() driver.Driver { return drv }

// validIdent reports whether s is an identifier that needs no quoting in
// users' SQL: letters, digits and underscores, not starting with a digit.
func validIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return !strings.HasPrefix(strings.ToLower(s), "sqlite_")
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
