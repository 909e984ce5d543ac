package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tether-ssm/tether/internal/store"
)

const sessionColumns = `id, target, status, start_ms, end_ms, document_name, owner, reason,
	parameters, max_duration, client_generation, last_activity_ms, details`

// CreateSession implements store.Store.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := exists(ctx, tx.StmtContext(ctx, s.ws.sessionExists), sess.ID); err != nil {
			return fmt.Errorf("create session %s: %w", sess.ID, err)
		}
		return s.insertSession(ctx, tx, sess)
	})
}

func (s *Store) insertSession(ctx context.Context, tx *sql.Tx, sess store.Session) error {
	params, err := json.Marshal(nonNilParams(sess.Parameters))
	if err != nil {
		return fmt.Errorf("encode parameters: %w", err)
	}
	_, err = tx.StmtContext(ctx, s.ws.sessionInsert).ExecContext(ctx,
		sess.ID, sess.Target, string(sess.Status), ms(sess.StartDate), ms(sess.EndDate),
		sess.DocumentName, sess.Owner, sess.Reason, string(params), sess.MaxSessionDuration,
		sess.ClientGeneration, ms(sess.LastActivity), sess.Details, boolInt(sess.Status.Ended()))
	if err != nil {
		return fmt.Errorf("insert session %s: %w", sess.ID, err)
	}
	return nil
}

// GetSession implements store.Store.
func (s *Store) GetSession(ctx context.Context, id string) (store.Session, error) {
	sess, err := scanSession(s.rs.sessionByID.QueryRowContext(ctx, id))
	if err != nil {
		return store.Session{}, fmt.Errorf("get session %s: %w", id, err)
	}
	return sess, nil
}

// ListSessions implements store.Store.
func (s *Store) ListSessions(ctx context.Context, q store.SessionQuery) ([]store.Session, error) {
	where := []string{"ended = ?"}
	args := []any{boolInt(q.History)}
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if !q.InvokedAfter.IsZero() {
		add("start_ms >= ?", ms(q.InvokedAfter))
	}
	if !q.InvokedBefore.IsZero() {
		add("start_ms < ?", ms(q.InvokedBefore))
	}
	if q.Target != "" {
		add("target = ?", q.Target)
	}
	if q.Owner != "" {
		add("owner = ?", q.Owner)
	}
	if q.Status != "" {
		add("status = ?", string(q.Status))
	}
	if q.SessionID != "" {
		add("id = ?", q.SessionID)
	}
	if c := q.After; c != nil {
		where = append(where, "(start_ms < ? OR (start_ms = ? AND id < ?))")
		args = append(args, ms(c.StartDate), ms(c.StartDate), c.ID)
	}
	query := `SELECT ` + sessionColumns + ` FROM sessions WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY start_ms DESC, id DESC` + limit(q.Limit)
	out, err := queryAll(ctx, s.r, scanSession, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return out, nil
}

// DeleteSessionsEndedBefore implements store.Store.
func (s *Store) DeleteSessionsEndedBefore(ctx context.Context, t time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE ended = 1 AND end_ms < ?`, ms(t))
	if err != nil {
		return 0, fmt.Errorf("delete old sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete old sessions: %w", err)
	}
	return int(n), nil
}

type scanner interface{ Scan(dest ...any) error }

// queryAll runs query on db and scans every row with scan.
func queryAll[T any](ctx context.Context, db *sql.DB, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func scanSession(r scanner) (store.Session, error) {
	sess, _, err := scanSessionRaw(r)
	return sess, err
}

// scanSessionRaw also returns the parameters' JSON as stored.
func scanSessionRaw(r scanner) (store.Session, string, error) {
	var (
		sess                   store.Session
		status, params         string
		startMs, endMs, lastMs int64
	)
	err := r.Scan(&sess.ID, &sess.Target, &status, &startMs, &endMs, &sess.DocumentName,
		&sess.Owner, &sess.Reason, &params, &sess.MaxSessionDuration, &sess.ClientGeneration,
		&lastMs, &sess.Details)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, "", store.ErrNotFound
	}
	if err != nil {
		return store.Session{}, "", err
	}
	sess.Status = store.SessionStatus(status)
	sess.StartDate, sess.EndDate, sess.LastActivity = fromMs(startMs), fromMs(endMs), fromMs(lastMs)
	if params != "{}" { // most sessions have none: skip the decoder
		if err := json.Unmarshal([]byte(params), &sess.Parameters); err != nil {
			return store.Session{}, "", fmt.Errorf("decode parameters: %w", err)
		}
	}
	if len(sess.Parameters) == 0 {
		sess.Parameters = nil
	}
	return sess, params, nil
}

func nonNilParams(p map[string][]string) map[string][]string {
	if p == nil {
		return map[string][]string{}
	}
	return p
}

// ms converts t to Unix milliseconds; the zero time is 0.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMs is the inverse of ms.
func fromMs(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
