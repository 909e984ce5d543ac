package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are applied in order; entry i brings the schema to version i+1.
// Never edit an entry that has shipped: append a new one.
var migrations = []string{
	// 1: sessions, activations, nodes.
	`CREATE TABLE sessions (
		id                TEXT PRIMARY KEY,
		target            TEXT NOT NULL,
		status            TEXT NOT NULL,
		ended             INTEGER NOT NULL, -- 1 for Terminated/Failed
		start_ms          INTEGER NOT NULL,
		end_ms            INTEGER NOT NULL,
		document_name     TEXT NOT NULL,
		owner             TEXT NOT NULL,
		reason            TEXT NOT NULL,
		parameters        TEXT NOT NULL,    -- JSON object of string lists
		max_duration      INTEGER NOT NULL,
		client_generation INTEGER NOT NULL,
		last_activity_ms  INTEGER NOT NULL,
		details           TEXT NOT NULL
	);
	CREATE INDEX sessions_listing ON sessions (ended, start_ms DESC, id DESC);
	CREATE INDEX sessions_end ON sessions (ended, end_ms);
	CREATE TABLE activations (
		id                    TEXT PRIMARY KEY,
		code_hash             BLOB NOT NULL,
		description           TEXT NOT NULL,
		default_instance_name TEXT NOT NULL,
		iam_role              TEXT NOT NULL,
		registration_limit    INTEGER NOT NULL,
		registrations_count   INTEGER NOT NULL,
		expiration_ms         INTEGER NOT NULL,
		created_ms            INTEGER NOT NULL,
		tags                  TEXT NOT NULL
	);
	CREATE INDEX activations_listing ON activations (created_ms, id);
	CREATE TABLE nodes (
		id                TEXT PRIMARY KEY,
		activation_id     TEXT NOT NULL,
		name              TEXT NOT NULL,
		iam_role          TEXT NOT NULL,
		registration_ms   INTEGER NOT NULL,
		access_key_id     TEXT NOT NULL UNIQUE,
		secret_access_key TEXT NOT NULL,
		agent_version     TEXT NOT NULL,
		platform_type     TEXT NOT NULL,
		platform_name     TEXT NOT NULL,
		platform_version  TEXT NOT NULL,
		computer_name     TEXT NOT NULL,
		ip_address        TEXT NOT NULL,
		last_ping_ms      INTEGER NOT NULL,
		tags              TEXT NOT NULL
	);
	CREATE INDEX nodes_activation ON nodes (activation_id);`,
}

// migrate brings the schema to the newest version, one transaction per step.
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	for {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		v, err := schemaVersion(ctx, tx)
		if err != nil || v >= len(migrations) {
			tx.Rollback()
			if v > len(migrations) {
				return fmt.Errorf("database schema version %d is newer than this binary's %d", v, len(migrations))
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM schema_version; INSERT INTO schema_version VALUES (?)`, v+1); err != nil {
			tx.Rollback()
			return fmt.Errorf("record version %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit migration %d: %w", v+1, err)
		}
	}
}

func schemaVersion(ctx context.Context, tx *sql.Tx) (int, error) {
	var v int
	err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// SchemaVersion returns the schema version of the open database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	return schemaVersion(ctx, tx)
}
