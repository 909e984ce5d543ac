package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tether-ssm/tether/internal/store"
)

const activationColumns = `id, code_hash, description, default_instance_name, iam_role,
	registration_limit, registrations_count, expiration_ms, created_ms, tags`

// CreateActivation implements store.Store.
func (s *Store) CreateActivation(ctx context.Context, a store.Activation) error {
	tags, err := encodeTags(a.Tags)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := existsQuery(ctx, tx, `SELECT 1 FROM activations WHERE id = ?`, a.ID); err != nil {
			return fmt.Errorf("create activation %s: %w", a.ID, err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO activations (`+activationColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, append([]byte{}, a.CodeHash...), a.Description, a.DefaultInstanceName, a.IamRole, a.RegistrationLimit,
			a.RegistrationsCount, ms(a.ExpirationDate), ms(a.CreatedDate), tags)
		if err != nil {
			return fmt.Errorf("create activation %s: %w", a.ID, err)
		}
		return nil
	})
}

// GetActivation implements store.Store.
func (s *Store) GetActivation(ctx context.Context, id string) (store.Activation, error) {
	a, err := scanActivation(s.rs.activationByID.QueryRowContext(ctx, id))
	if err != nil {
		return store.Activation{}, fmt.Errorf("get activation %s: %w", id, err)
	}
	return a, nil
}

// ListActivations implements store.Store.
func (s *Store) ListActivations(ctx context.Context, q store.ActivationQuery) ([]store.Activation, error) {
	where, args := []string{"1"}, []any{}
	if len(q.IDs) > 0 {
		where = append(where, "id IN ("+placeholders(len(q.IDs))+")")
		for _, id := range q.IDs {
			args = append(args, id)
		}
	}
	if q.AfterID != "" {
		where = append(where, `(created_ms, id) > (SELECT created_ms, id FROM activations WHERE id = ?)`)
		args = append(args, q.AfterID)
	}
	query := `SELECT ` + activationColumns + ` FROM activations WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY created_ms, id` + limit(q.Limit)
	out, err := queryAll(ctx, s.r, scanActivation, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list activations: %w", err)
	}
	return out, nil
}

// DeleteActivation implements store.Store.
func (s *Store) DeleteActivation(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM activations WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete activation %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err == nil {
			err = store.ErrNotFound
		}
		return fmt.Errorf("delete activation %s: %w", id, err)
	}
	return nil
}

const nodeColumns = `id, activation_id, name, iam_role, registration_ms, access_key_id,
	secret_access_key, agent_version, platform_type, platform_name, platform_version,
	computer_name, ip_address, last_ping_ms, tags`

// RegisterNode implements store.Store.
func (s *Store) RegisterNode(ctx context.Context, n store.Node) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, `SELECT `+activationColumns+` FROM activations WHERE id = ?`, n.ActivationID)
		a, err := scanActivation(row)
		if err != nil {
			return fmt.Errorf("register node: activation %s: %w", n.ActivationID, err)
		}
		if a.Expired(n.RegistrationDate) {
			return fmt.Errorf("register node: activation %s: %w", a.ID, store.ErrActivationExpired)
		}
		if a.RegistrationsCount >= a.RegistrationLimit {
			return fmt.Errorf("register node: activation %s: %w", a.ID, store.ErrRegistrationLimit)
		}
		if err := existsQuery(ctx, tx, `SELECT 1 FROM nodes WHERE id = ? OR access_key_id = ?`, n.ID, n.AccessKeyID); err != nil {
			return fmt.Errorf("register node %s: %w", n.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE activations SET registrations_count = registrations_count + 1 WHERE id = ?`, a.ID); err != nil {
			return fmt.Errorf("register node %s: %w", n.ID, err)
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO nodes (`+nodeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("register node %s: %w", n.ID, err)
		}
		return writeNode(ctx, ins, n, false)
	})
}

// writeNode runs st, an INSERT (nodeColumns order) or, with update, an
// UPDATE whose parameters end with the id.
func writeNode(ctx context.Context, st *sql.Stmt, n store.Node, update bool) error {
	tags, err := encodeTags(n.Tags)
	if err != nil {
		return err
	}
	args := []any{n.ActivationID, n.Name, n.IamRole, ms(n.RegistrationDate), n.AccessKeyID,
		n.SecretAccessKey, n.AgentVersion, n.PlatformType, n.PlatformName, n.PlatformVersion,
		n.ComputerName, n.IPAddress, ms(n.LastPing), tags}
	if update {
		args = append(args, n.ID)
	} else {
		args = append([]any{n.ID}, args...)
	}
	if _, err := st.ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("write node %s: %w", n.ID, err)
	}
	return nil
}

// GetNode implements store.Store.
func (s *Store) GetNode(ctx context.Context, id string) (store.Node, error) {
	n, err := scanNode(s.rs.nodeByID.QueryRowContext(ctx, id))
	if err != nil {
		return store.Node{}, fmt.Errorf("get node %s: %w", id, err)
	}
	return n, nil
}

// GetNodeByAccessKey implements store.Store.
func (s *Store) GetNodeByAccessKey(ctx context.Context, key string) (store.Node, error) {
	n, err := scanNode(s.rs.nodeByAccessKey.QueryRowContext(ctx, key))
	if err != nil {
		return store.Node{}, fmt.Errorf("get node by access key: %w", err)
	}
	return n, nil
}

// UpdateNode implements store.Store.
func (s *Store) UpdateNode(ctx context.Context, id string, fn func(*store.Node) error) (store.Node, error) {
	var out store.Node
	var fnErr error
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		n, err := scanNode(tx.StmtContext(ctx, s.ws.nodeByID).QueryRowContext(ctx, id))
		if err != nil {
			return fmt.Errorf("update node %s: %w", id, err)
		}
		if err := fn(&n); err != nil {
			fnErr = err
			return err
		}
		n.ID = id
		out = n
		return writeNode(ctx, tx.StmtContext(ctx, s.ws.nodeUpdate), n, true)
	})
	if fnErr != nil {
		return store.Node{}, fnErr
	}
	if err != nil {
		return store.Node{}, err
	}
	return out, nil
}

// ListNodes implements store.Store.
func (s *Store) ListNodes(ctx context.Context, q store.NodeQuery) ([]store.Node, error) {
	where, args := []string{"1"}, []any{}
	if len(q.IDs) > 0 {
		where = append(where, "id IN ("+placeholders(len(q.IDs))+")")
		for _, id := range q.IDs {
			args = append(args, id)
		}
	}
	if q.ActivationID != "" {
		where = append(where, "activation_id = ?")
		args = append(args, q.ActivationID)
	}
	if q.AfterID != "" {
		where = append(where, "id > ?")
		args = append(args, q.AfterID)
	}
	query := `SELECT ` + nodeColumns + ` FROM nodes WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id` + limit(q.Limit)
	out, err := queryAll(ctx, s.r, scanNode, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return out, nil
}

func scanActivation(r scanner) (store.Activation, error) {
	var (
		a            store.Activation
		expMs, crtMs int64
		tags         string
	)
	err := r.Scan(&a.ID, &a.CodeHash, &a.Description, &a.DefaultInstanceName, &a.IamRole,
		&a.RegistrationLimit, &a.RegistrationsCount, &expMs, &crtMs, &tags)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Activation{}, store.ErrNotFound
	}
	if err != nil {
		return store.Activation{}, err
	}
	a.ExpirationDate, a.CreatedDate = fromMs(expMs), fromMs(crtMs)
	a.Tags, err = decodeTags(tags)
	return a, err
}

func scanNode(r scanner) (store.Node, error) {
	var (
		n             store.Node
		regMs, pingMs int64
		tags          string
	)
	err := r.Scan(&n.ID, &n.ActivationID, &n.Name, &n.IamRole, &regMs, &n.AccessKeyID,
		&n.SecretAccessKey, &n.AgentVersion, &n.PlatformType, &n.PlatformName, &n.PlatformVersion,
		&n.ComputerName, &n.IPAddress, &pingMs, &tags)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Node{}, store.ErrNotFound
	}
	if err != nil {
		return store.Node{}, err
	}
	n.RegistrationDate, n.LastPing = fromMs(regMs), fromMs(pingMs)
	n.Tags, err = decodeTags(tags)
	return n, err
}

// existsQuery returns store.ErrExists if query finds a row.
func existsQuery(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	return existsRow(tx.QueryRowContext(ctx, query, args...))
}

// exists returns store.ErrExists if the prepared st finds a row.
func exists(ctx context.Context, st *sql.Stmt, args ...any) error {
	return existsRow(st.QueryRowContext(ctx, args...))
}

func existsRow(row *sql.Row) error {
	var one int
	err := row.Scan(&one)
	switch {
	case err == nil:
		return store.ErrExists
	case errors.Is(err, sql.ErrNoRows):
		return nil
	default:
		return err
	}
}

func encodeTags(t map[string]string) (string, error) {
	if t == nil {
		t = map[string]string{}
	}
	b, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("encode tags: %w", err)
	}
	return string(b), nil
}

func decodeTags(s string) (map[string]string, error) {
	var t map[string]string
	if err := json.Unmarshal([]byte(s), &t); err != nil {
		return nil, fmt.Errorf("decode tags: %w", err)
	}
	if len(t) == 0 {
		return nil, nil
	}
	return t, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func limit(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf(" LIMIT %d", n)
}
