package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Hot statements, prepared once per Store. SQLite compiles a statement's text
// into a program; doing that on every call was about a fifth of the CPU time
// of a ResumeSession (bench/resume). database/sql keeps one compiled copy per
// connection: the writer has one connection, the read pool up to MaxReaders.
const (
	qSessionByID   = `SELECT ` + sessionColumns + ` FROM sessions WHERE id = ?`
	qSessionExists = `SELECT 1 FROM sessions WHERE id = ?`
	qSessionInsert = `INSERT INTO sessions (` + sessionColumns + `, ended) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qSessionUpdate = `UPDATE sessions SET target = ?, status = ?, ended = ?, start_ms = ?,
		end_ms = ?, document_name = ?, owner = ?, reason = ?, parameters = ?, max_duration = ?,
		client_generation = ?, last_activity_ms = ?, details = ? WHERE id = ?`
	qNodeByID        = `SELECT ` + nodeColumns + ` FROM nodes WHERE id = ?`
	qNodeByAccessKey = `SELECT ` + nodeColumns + ` FROM nodes WHERE access_key_id = ?`
	qNodeUpdate      = `UPDATE nodes SET activation_id = ?, name = ?, iam_role = ?,
		registration_ms = ?, access_key_id = ?, secret_access_key = ?, agent_version = ?,
		platform_type = ?, platform_name = ?, platform_version = ?, computer_name = ?,
		ip_address = ?, last_ping_ms = ?, tags = ? WHERE id = ?`
	qActivationByID = `SELECT ` + activationColumns + ` FROM activations WHERE id = ?`
)

// writeStmts are prepared on the single writer connection and used inside
// write transactions through tx.StmtContext, which reuses the compiled
// statement because the transaction runs on that same connection.
type writeStmts struct {
	sessionByID, sessionExists, sessionInsert, sessionUpdate *sql.Stmt
	nodeByID, nodeUpdate                                     *sql.Stmt
}

// readStmts are prepared on the read pool.
type readStmts struct {
	sessionByID, nodeByID, nodeByAccessKey, activationByID *sql.Stmt
}

// stmtSet prepares statements on one database and remembers them so that
// Close can release them; the first failure is kept and later calls are
// no-ops.
type stmtSet struct {
	db  *sql.DB
	all []*sql.Stmt
	err error
}

func (p *stmtSet) prepare(ctx context.Context, query string) *sql.Stmt {
	if p.err != nil {
		return nil
	}
	st, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		p.err = fmt.Errorf("prepare %q: %w", query, err)
		return nil
	}
	p.all = append(p.all, st)
	return st
}

func (p *stmtSet) close() error {
	var errs []error
	for _, st := range p.all {
		errs = append(errs, st.Close())
	}
	p.all = nil
	return errors.Join(errs...)
}

func prepareWrite(ctx context.Context, w *sql.DB) (writeStmts, *stmtSet, error) {
	p := &stmtSet{db: w}
	s := writeStmts{
		sessionByID:   p.prepare(ctx, qSessionByID),
		sessionExists: p.prepare(ctx, qSessionExists),
		sessionInsert: p.prepare(ctx, qSessionInsert),
		sessionUpdate: p.prepare(ctx, qSessionUpdate),
		nodeByID:      p.prepare(ctx, qNodeByID),
		nodeUpdate:    p.prepare(ctx, qNodeUpdate),
	}
	if p.err != nil {
		return writeStmts{}, nil, errors.Join(p.err, p.close())
	}
	return s, p, nil
}

func prepareRead(ctx context.Context, r *sql.DB) (readStmts, *stmtSet, error) {
	p := &stmtSet{db: r}
	s := readStmts{
		sessionByID:     p.prepare(ctx, qSessionByID),
		nodeByID:        p.prepare(ctx, qNodeByID),
		nodeByAccessKey: p.prepare(ctx, qNodeByAccessKey),
		activationByID:  p.prepare(ctx, qActivationByID),
	}
	if p.err != nil {
		return readStmts{}, nil, errors.Join(p.err, p.close())
	}
	return s, p, nil
}
