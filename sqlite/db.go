package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver

	"tipoff/batch"
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
	path     string
	readOnly bool // opened by OpenReadOnly: no writer goroutine, Write fails
	write    *sql.DB
	read     *sql.DB

	writes     chan writeReq
	closed     chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once
	closeErr   error

	pubs publicationCache
	ckpt checkpointer
	// secondReader is held by the day's load that reads on a second
	// transaction (see LoadDay).
	secondReader sync.Mutex
}

// Open opens (creating if needed) the SQLite file at path and brings its
// schema up to date. Close it when done. Its errors name the file when it is
// read-only (the file, or the directory that must hold its -wal and -shm
// files), when its disk is full, or when it is not a SQLite database.
//
// Durability: journal_mode=WAL with synchronous=FULL, so every committed
// transaction is fsynced to the WAL before the commit returns; a power loss
// loses nothing that was acknowledged. Group commit in the Store keeps that
// affordable by sharing one fsync among many callers.
//
// The WAL is checkpointed into the file every walCheckpointPages pages
// instead of SQLite's 1,000 (4 MB): a checkpoint copies each page once
// however many commits rewrote it, and a batch's commits rewrite the same
// queue and item pages over and over, so fewer, larger checkpoints copy far
// fewer pages. The WAL file may grow to about 40 MB during a run.
//
// Each connection caches a few hundred pages (see writerCacheKiB).
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, fmt.Errorf("open sqlite: empty path")
	}
	dsn := func(cacheKiB int, extra string) string {
		q := url.Values{}
		for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(30000)", "foreign_keys(ON)", cachePragma(cacheKiB), "temp_store(MEMORY)",
			"wal_autocheckpoint(" + strconv.Itoa(walCheckpointPages) + ")"} {
			q.Add("_pragma", p)
		}
		s := "file:" + path + "?" + q.Encode()
		if extra != "" {
			s += "&" + extra
		}
		return s
	}
	w, err := sql.Open("sqlite", dsn(writerCacheKiB, "_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite", dsn(readerCacheKiB, "_pragma=query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db := &DB{path: path, write: w, read: r, writes: make(chan writeReq, maxGroup),
		closed: make(chan struct{}), writerDone: make(chan struct{}), ckpt: checkpointer{dsn: dsn(readerCacheKiB, "")}}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, explainOr("open", path, err)
	}
	go db.writer()
	return db, nil
}

// walCheckpointPages is the WAL size, in pages, at which a commit
// checkpoints it (see [Open]).
const walCheckpointPages = 10_000

// writerCacheKiB and readerCacheKiB are the page caches of the writing
// connection and of each reading one (and the checkpointer's): 1 MiB and
// 512 KiB, 256 and 128 pages. A reader's cache is emptied whenever another
// connection has committed since its last read, which in a running batch
// is nearly always, and the day's data is read once; the writer's hot
// pages (the B-trees' upper levels, the queue's and outbox's heads) are
// few. A larger cache only holds pages that are read or written once, and
// costs for each of them: SQLite's allocator takes an 8 KiB slot for each
// 4 KiB page, a slot first touched is a page fault, and freeing them, when
// a reader's cache is emptied and when the file is closed, costs a madvise
// call per 64 KiB once more than 4 MiB are free. With 64 MiB caches the
// busiest day's run spent ~100 ms of CPU in those calls at close alone;
// going from 2 MiB to these sizes took its median from 0.455 to 0.42 s
// and 71 to 62 MB (ten interleaved runs each), with the 100,000-item
// burn-down and the batch page no slower.
const (
	writerCacheKiB = 1024
	readerCacheKiB = 512
)

func cachePragma(kib int) string { return "cache_size(-" + strconv.Itoa(kib) + ")" }

// ErrReadOnly is the error of a write to a DB opened with [OpenReadOnly].
var ErrReadOnly = errors.New("sqlite: database opened read-only")

// OpenReadOnly opens the existing SQLite file at path for reading, for
// commands that only read (status, health, backtest). Unlike [Open] it never
// creates the file, never changes its schema, and its [DB.Write] returns
// [ErrReadOnly]. It returns an error wrapping [batch.ErrNotFound] if there is
// no file at path, and one wrapping [batch.ErrInvalid] if the file is not a
// tipoff database or its schema is older than this program's (open it once
// with Open to upgrade it).
//
// The file is opened with SQLite's mode=ro, which still reads the WAL of
// writers working on it, and so needs the -shm wal-index beside the file,
// creating it if no writer has. On a read-only file system that cannot be
// created: if there is also no WAL holding changes (the last writer closed
// cleanly), the file is complete and cannot change, and it is opened as
// immutable instead; with a WAL left behind it cannot be read without
// writing, and the error says so. Like any reader in WAL mode it may leave
// an empty -wal and the -shm file beside the file; the next writer uses them.
func OpenReadOnly(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, fmt.Errorf("open sqlite: empty path")
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("open %s: %w: no such database file", path, batch.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", path, err)
	case fi.IsDir():
		return nil, fmt.Errorf("open %s: %w: a directory, not a database file", path, batch.ErrInvalid)
	}
	db, err := openReadOnly(ctx, path, "mode=ro")
	if err != nil && sqliteCode(err)&0xff == codeCantOpen && onReadOnlyFS(filepath.Dir(path)) {
		if wal, werr := os.Stat(path + "-wal"); werr == nil && wal.Size() > 0 {
			return nil, fmt.Errorf("open %s: it is on a read-only file system and its write-ahead log %s-wal still holds changes: "+
				"open it once where it is writable so they reach the file: %w", path, filepath.Base(path), err)
		}
		db, err = openReadOnly(ctx, path, "mode=ro&immutable=1")
	}
	if err != nil {
		return nil, explainOr("open", path, err)
	}
	return db, nil
}

func openReadOnly(ctx context.Context, path, mode string) (*DB, error) {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(30000)", "foreign_keys(ON)", cachePragma(readerCacheKiB), "temp_store(MEMORY)", "query_only(1)"} {
		q.Add("_pragma", p)
	}
	dsn := "file:" + path + "?" + mode + "&" + q.Encode()
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	// The Store and Queue prepare statements on the write handle; here it
	// is one more read-only connection, and Write never uses it.
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		r.Close()
		return nil, err
	}
	w.SetMaxOpenConns(1)
	db := &DB{path: path, readOnly: true, write: w, read: r, writes: make(chan writeReq),
		closed: make(chan struct{}), writerDone: make(chan struct{})}
	close(db.writerDone)
	if err := db.checkSchema(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	return db, nil
}

// checkSchema returns an error wrapping [batch.ErrInvalid] unless the
// file's schema is this program's.
func (db *DB) checkSchema(ctx context.Context) error {
	ms, err := migrationList(migrations)
	if err != nil {
		return err
	}
	want := ms[len(ms)-1].n
	var version int
	if err := db.read.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	switch {
	case version == 0:
		return fmt.Errorf("%w: %s is not a tipoff database (it has no tipoff schema)", batch.ErrInvalid, db.path)
	case version < want:
		return fmt.Errorf("%w: %s has schema version %d, this program needs %d: open it once with a command that writes (such as import) to upgrade it",
			batch.ErrInvalid, db.path, version, want)
	case version > want:
		return newerSchema(db.path, version, want)
	}
	return nil
}

// newerSchema is the error for a file a newer tipoff has upgraded: this
// program would misread what the newer schema moved (a request kept in
// item_requests reads here as none), so it does not touch the file.
func newerSchema(path string, version, known int) error {
	return fmt.Errorf("%w: %s has schema version %d, newer than this program's %d: a newer tipoff wrote it; use that version (or a later one)",
		batch.ErrInvalid, path, version, known)
}

type migration struct {
	n    int
	name string
}

// migrationList returns the embedded migrations in order.
// migrationList lists the migrations in fsys's migrations directory, in
// order. Their numbers must run 1, 2, 3... without a gap or a repeat: two
// files with one number would otherwise both run at that version, or one
// never.
func migrationList(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		n, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and '_'", e.Name())
		}
		ms = append(ms, migration{n, e.Name()})
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("no migrations embedded")
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].n < ms[j].n })
	for i, m := range ms {
		if m.n != i+1 {
			return nil, fmt.Errorf("migration %s: number %d, want %d (numbers run 1, 2, 3... without a gap or a repeat)", m.name, m.n, i+1)
		}
	}
	return ms, nil
}

// Path returns the file's path.
func (db *DB) Path() string { return db.path }

// Close stops the group-commit writer, failing writes still queued, and
// closes the file. Closing again returns the first Close's result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.closed)
		<-db.writerDone
		// The checkpointer's connection first: the last one to close
		// checkpoints the WAL and deletes it.
		db.closeErr = errors.Join(db.ckpt.close(), db.write.Close(), db.read.Close())
	})
	return db.closeErr
}

// Ping checks that the file can be read.
func (db *DB) Ping(ctx context.Context) error {
	var n int
	return db.read.QueryRowContext(ctx, "SELECT 1").Scan(&n)
}

// upgrades are the steps in Go of some migrations, run in the migration's
// transaction after its SQL, on the schema of its number.
var upgrades = map[int]func(context.Context, *sql.Tx) error{
	12: upgradeHistories, // 0012_player_history_format.sql
	14: upgradeSchedule,  // 0014_data_schedule.sql
}

// migrate applies, in one write transaction, every embedded migration whose
// number is above the file's user_version. Files are named NNNN_what.sql.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := migrationList(migrations)
	if err != nil {
		return err
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("migrate: read version: %w", err)
	}
	if known := ms[len(ms)-1].n; version > known {
		return newerSchema(db.path, version, known)
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
		if up := upgrades[m.n]; up != nil {
			if err := up(ctx, tx); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
		}
		last = m.n
	}
	if last == version {
		return nil
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", last)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return tx.Commit()
}
