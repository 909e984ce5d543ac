// Package sqlitestore is the embedded Store: one SQLite file (pure Go,
// modernc.org/sqlite) in WAL mode, with schema migrations applied on Open.
//
// Writes go through a single connection, so read-modify-write operations
// (UpdateSession, RegisterNode) are serialised inside the process and guarded
// by IMMEDIATE transactions against other processes sharing the file. Reads
// use a separate pool and never block writers (WAL). Hot statements are
// prepared once per pool, and UpdateSession writes back only the columns its
// fn changed (see update.go).
//
// Durability: every committed transaction survives a crash of the process
// (kill -9 included). With Config.Synchronous "NORMAL" (the default) the last
// transactions may be lost on power failure; "FULL" trades speed for that.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/tether-ssm/tether/internal/store"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Config configures a Store. The zero value is not valid; start from
// DefaultConfig.
type Config struct {
	// Synchronous is SQLite's synchronous pragma: "NORMAL" (default; safe
	// against process crashes) or "FULL" (also against power loss).
	Synchronous string
	// BusyTimeout is how long a writer waits for another process's lock
	// before failing. Default 5s.
	BusyTimeout time.Duration
	// MaxReaders bounds the read connection pool. Default 8.
	MaxReaders int
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{Synchronous: "NORMAL", BusyTimeout: 5 * time.Second, MaxReaders: 8}
}

// Validate reports a configuration error.
func (c Config) Validate() error {
	switch c.Synchronous {
	case "NORMAL", "FULL":
	default:
		return fmt.Errorf("sqlitestore: synchronous must be NORMAL or FULL, not %q", c.Synchronous)
	}
	if c.BusyTimeout <= 0 {
		return errors.New("sqlitestore: busy timeout must be positive")
	}
	if c.MaxReaders < 1 {
		return errors.New("sqlitestore: max readers must be at least 1")
	}
	return nil
}

// Store is a store.Store backed by one SQLite file.
type Store struct {
	w  *sql.DB    // single connection: all writes
	r  *sql.DB    // read pool
	ws writeStmts // prepared on w
	rs readStmts  // prepared on r
	// updates are the partial session UPDATEs, prepared on w on first use.
	updates updateStmts
	// prepared lists every statement above, closed before the pools.
	prepared []*stmtSet
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path and migrates
// its schema to the current version.
func Open(path string, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", dsn(path, cfg, "immediate"))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	if err := migrate(context.Background(), w); err != nil {
		w.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn(path, cfg, "deferred"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	r.SetMaxOpenConns(cfg.MaxReaders)
	r.SetMaxIdleConns(cfg.MaxReaders)
	s := &Store{w: w, r: r}
	ws, wp, err := prepareWrite(context.Background(), w)
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	s.ws, s.prepared = ws, append(s.prepared, wp)
	rs, rp, err := prepareRead(context.Background(), r)
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	s.rs, s.prepared = rs, append(s.prepared, rp)
	return s, nil
}

func dsn(path string, cfg Config, txlock string) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", cfg.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "synchronous("+cfg.Synchronous+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", txlock)
	return "file:" + path + "?" + q.Encode()
}

// Close releases the prepared statements and closes both connection pools.
func (s *Store) Close() error {
	errs := []error{s.updates.close()}
	for _, p := range s.prepared {
		errs = append(errs, p.close())
	}
	s.prepared = nil
	return errors.Join(append(errs, s.r.Close(), s.w.Close())...)
}

// inTx runs fn in a write transaction and commits it if fn succeeds.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
