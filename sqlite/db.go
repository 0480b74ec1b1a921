package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is one SQLite file in WAL mode, shared by the batch [Store], the
// durable [Queue] and the prediction data tables. Writes go through a single
// connection (SQLite allows one writer at a time; queueing in Go is cheaper
// than spinning on the file lock), reads through a pool. Several processes
// may open the same file: they wait for each other's writes up to the busy
// timeout.
type DB struct {
	path  string
	write *sql.DB
	read  *sql.DB

	writes     chan writeReq
	closed     chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once
	closeErr   error
}

// Open opens (creating if needed) the SQLite file at path and brings its
// schema up to date. Close it when done.
//
// Durability: journal_mode=WAL with synchronous=FULL, so every committed
// transaction is fsynced to the WAL before the commit returns; a power loss
// loses nothing that was acknowledged. Group commit in the Store keeps that
// affordable by sharing one fsync among many callers.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, fmt.Errorf("open sqlite: empty path")
	}
	dsn := func(extra string) string {
		q := url.Values{}
		for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(30000)", "foreign_keys(ON)", "cache_size(-65536)", "temp_store(MEMORY)"} {
			q.Add("_pragma", p)
		}
		s := "file:" + path + "?" + q.Encode()
		if extra != "" {
			s += "&" + extra
		}
		return s
	}
	w, err := sql.Open("sqlite", dsn("_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite", dsn("_pragma=query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db := &DB{path: path, write: w, read: r, writes: make(chan writeReq, maxGroup),
		closed: make(chan struct{}), writerDone: make(chan struct{})}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	go db.writer()
	return db, nil
}

// Path returns the file's path.
func (db *DB) Path() string { return db.path }

// Close stops the group-commit writer, failing writes still queued, and
// closes the file. Closing again returns the first Close's result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.closed)
		<-db.writerDone
		db.closeErr = errors.Join(db.write.Close(), db.read.Close())
	})
	return db.closeErr
}

// Ping checks that the file can be read.
func (db *DB) Ping(ctx context.Context) error {
	var n int
	return db.read.QueryRowContext(ctx, "SELECT 1").Scan(&n)
}

// migrate applies, in one write transaction, every embedded migration whose
// number is above the file's user_version. Files are named NNNN_what.sql.
func (db *DB) migrate(ctx context.Context) error {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	type mig struct {
		n    int
		name string
	}
	var ms []mig
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		n, err := strconv.Atoi(num)
		if !ok || err != nil {
			return fmt.Errorf("migration %s: name must start with a number and '_'", e.Name())
		}
		ms = append(ms, mig{n, e.Name()})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].n < ms[j].n })
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", db.path, err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("migrate %s: read version: %w", db.path, err)
	}
	last := version
	for _, m := range ms {
		if m.n <= version {
			continue
		}
		body, err := migrations.ReadFile("migrations/" + m.name)
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		last = m.n
	}
	if last == version {
		return nil
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", last)); err != nil {
		return fmt.Errorf("migrate %s: %w", db.path, err)
	}
	return tx.Commit()
}
