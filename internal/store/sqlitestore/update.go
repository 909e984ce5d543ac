package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/tether-ssm/tether/internal/store"
)

// UpdateSession writes back only the columns its fn changed. Besides writing
// less, this keeps SQLite from rewriting index entries whose columns are
// named in the SET list (it does so even when the value is the same): a
// ResumeSession, which changes the generation and the activity time, dirties
// one page of the write-ahead log instead of three.

// sessionSetColumns are the columns an UPDATE may set, in the order of
// sessionValues. A change mask has bit i set when column i changed.
var sessionSetColumns = [...]string{"target", "status", "ended", "start_ms", "end_ms",
	"document_name", "owner", "reason", "parameters", "max_duration", "client_generation",
	"last_activity_ms", "details"}

const allSessionColumns = 1<<len(sessionSetColumns) - 1

// maxUpdateStmts bounds the cache of prepared partial UPDATEs; callers use a
// handful of change patterns, anything beyond falls back to the full row.
const maxUpdateStmts = 32

type sessionValues [len(sessionSetColumns)]any

// rowValues returns sess's column values as stored, with params the
// parameters' JSON encoding.
func rowValues(sess *store.Session, params string) sessionValues {
	return sessionValues{sess.Target, string(sess.Status), boolInt(sess.Status.Ended()),
		ms(sess.StartDate), ms(sess.EndDate), sess.DocumentName, sess.Owner, sess.Reason, params,
		sess.MaxSessionDuration, sess.ClientGeneration, ms(sess.LastActivity), sess.Details}
}

// changeMask reports which columns differ between a and b.
func changeMask(a, b *sessionValues) uint32 {
	var m uint32
	for i := range a {
		if a[i] != b[i] {
			m |= 1 << i
		}
	}
	return m
}

func encodeParams(p map[string][]string) (string, error) {
	b, err := json.Marshal(nonNilParams(p))
	if err != nil {
		return "", fmt.Errorf("encode parameters: %w", err)
	}
	return string(b), nil
}

func updateQuery(mask uint32) string {
	var set []string
	for i, c := range sessionSetColumns {
		if mask&(1<<i) != 0 {
			set = append(set, c+" = ?")
		}
	}
	return `UPDATE sessions SET ` + strings.Join(set, ", ") + ` WHERE id = ?`
}

// updateStmts caches UPDATE statements prepared on the writer, by change
// mask. Statements are prepared outside write transactions (the writer has
// a single connection, which the transaction holds).
type updateStmts struct {
	mu     sync.Mutex
	m      map[uint32]*sql.Stmt
	closed bool
}

// get returns the statement for mask, or nil if it is not prepared yet.
func (u *updateStmts) get(mask uint32) *sql.Stmt {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.m[mask]
}

// add prepares the statement for mask on w unless it exists, the cache is
// full or closed. Failure only means the full-row UPDATE stays in use.
func (u *updateStmts) add(ctx context.Context, w *sql.DB, mask uint32) {
	u.mu.Lock()
	skip := u.closed || u.m[mask] != nil || len(u.m) >= maxUpdateStmts
	u.mu.Unlock()
	if skip {
		return
	}
	st, err := w.PrepareContext(ctx, updateQuery(mask))
	if err != nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed || u.m[mask] != nil || len(u.m) >= maxUpdateStmts {
		st.Close()
		return
	}
	if u.m == nil {
		u.m = map[uint32]*sql.Stmt{}
	}
	u.m[mask] = st
}

func (u *updateStmts) close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.closed = true
	var errs []error
	for _, st := range u.m {
		errs = append(errs, st.Close())
	}
	u.m = nil
	return errors.Join(errs...)
}

// UpdateSession implements store.Store.
func (s *Store) UpdateSession(ctx context.Context, id string, fn func(*store.Session) error) (store.Session, error) {
	var (
		out   store.Session
		fnErr error
		miss  uint32 // a change mask without a prepared statement
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		sess, params, err := scanSessionRaw(tx.StmtContext(ctx, s.ws.sessionByID).QueryRowContext(ctx, id))
		if err != nil {
			return fmt.Errorf("update session %s: %w", id, err)
		}
		before := rowValues(&sess, params)
		if err := fn(&sess); err != nil {
			fnErr = err
			return err
		}
		sess.ID = id
		out = sess
		if params, err = encodeParams(sess.Parameters); err != nil {
			return err
		}
		after := rowValues(&sess, params)
		mask := changeMask(&before, &after)
		if mask == 0 {
			return nil // nothing to write
		}
		st := s.updates.get(mask)
		if st == nil {
			miss, mask, st = mask, allSessionColumns, s.ws.sessionUpdate
		}
		args := make([]any, 0, len(after)+1)
		for i, v := range after {
			if mask&(1<<i) != 0 {
				args = append(args, v)
			}
		}
		if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, append(args, id)...); err != nil {
			return fmt.Errorf("update session %s: %w", id, err)
		}
		return nil
	})
	if fnErr != nil {
		return store.Session{}, fnErr
	}
	if err != nil {
		return store.Session{}, err
	}
	if miss != 0 {
		s.updates.add(ctx, s.w, miss)
	}
	return out, nil
}
