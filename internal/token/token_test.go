package token_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-ssm/tether/internal/token"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newCodec(t *testing.T, clk *clock) *token.Codec {
	t.Helper()
	c, err := token.New(bytes.Repeat([]byte{7}, 32), token.Config{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRoundTripAndLength(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 12, 4, 19, 0, 0, 123e6, time.UTC)}
	c := newCodec(t, clk)
	long := strings.Repeat("n", 64)
	for _, cl := range []token.Claims{
		{SessionID: "Mary-Major-07a16060613c408b5", Role: token.RoleClient, Principal: "arn:aws:iam::123456789012:user/Mary-Major", Generation: 3},
		{SessionID: long + "-07a16060613c408b5", Role: token.RoleAgent, Principal: "arn:aws:iam::123456789012:user/" + long, Generation: 1 << 40},
		// A non-compact principal (not the session id's user).
		{SessionID: "x-07a16060613c408b5", Role: token.RoleClient, Principal: "arn:aws:sts::123456789012:assumed-role/Admin/John-Stiles", Generation: 1},
	} {
		cl.IssuedAt = clk.now()
		cl.Expiry = cl.IssuedAt.Add(time.Hour)
		tok, err := c.Seal(cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) > token.MaxLen {
			t.Errorf("token of %d chars", len(tok))
		}
		got, err := c.Open(tok)
		if err != nil {
			t.Fatal(err)
		}
		if got != cl {
			t.Errorf("got %+v\nwant %+v", got, cl)
		}
	}
}

func TestTooLong(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Unix(1e9, 0)}
	c := newCodec(t, clk)
	_, err := c.Seal(token.Claims{SessionID: strings.Repeat("s", 96), Role: token.RoleClient,
		Principal: "arn:aws:iam::123456789012:user/" + strings.Repeat("n", 64), IssuedAt: clk.now(), Expiry: clk.now().Add(time.Hour)})
	if !errors.Is(err, token.ErrTooLong) {
		t.Fatalf("got %v", err)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)}
	c := newCodec(t, clk)
	cl := token.Claims{SessionID: "u-0123456789abcdef0", Role: token.RoleClient, Principal: "arn:aws:iam::1:user/u", Generation: 2,
		IssuedAt: clk.now(), Expiry: clk.now().Add(time.Minute)}
	tok, err := c.Seal(cl)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := token.New(bytes.Repeat([]byte{8}, 32), token.Config{Now: clk.now})
	flip := []byte(tok)
	flip[len(flip)/2] ^= 0x01
	if flip[len(flip)/2] == '+' || flip[len(flip)/2] == '/' {
		flip[len(flip)/2] = 'A'
	}
	tests := []struct {
		name string
		fn   func() error
		want error
	}{
		{"ok", func() error { _, err := c.Verify(tok, token.RoleClient, 2); return err }, nil},
		{"superseded", func() error { _, err := c.Verify(tok, token.RoleClient, 3); return err }, token.ErrSuperseded},
		{"wrong role", func() error { _, err := c.Verify(tok, token.RoleAgent, 2); return err }, token.ErrWrongRole},
		{"tampered", func() error { _, err := c.Open(string(flip)); return err }, token.ErrTampered},
		{"other key", func() error { _, err := other.Open(tok); return err }, token.ErrTampered},
		{"garbage", func() error { _, err := c.Open("!!!"); return err }, token.ErrMalformed},
		{"empty", func() error { _, err := c.Open(""); return err }, token.ErrMalformed},
		{"too long", func() error { _, err := c.Open(strings.Repeat("A", 301)); return err }, token.ErrMalformed},
		{"other purpose", func() error { _, err := c.OpenValue("page", tok); return err }, token.ErrTampered},
	}
	for _, tc := range tests {
		if err := tc.fn(); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	clk.add(time.Minute)
	if _, err := c.Open(tok); !errors.Is(err, token.ErrExpired) {
		t.Errorf("expired: %v", err)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), token.KeyFileName)
	var wg sync.WaitGroup
	keys := make([][]byte, 8)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := token.LoadOrCreateKey(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) {
			t.Fatal("concurrent creators got different keys")
		}
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	again, err := token.LoadOrCreateKey(path)
	if err != nil || !bytes.Equal(again, keys[0]) {
		t.Fatal("key not reloaded")
	}
	os.WriteFile(path, []byte("short"), 0o600)
	if _, err := token.LoadOrCreateKey(path); err == nil {
		t.Fatal("short key accepted")
	}
}

// FuzzOpen: arbitrary strings never panic Open and never authenticate.
func FuzzOpen(f *testing.F) {
	f.Add("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("")
	clk := &clock{t: time.Unix(0, 0)}
	c, _ := token.New(bytes.Repeat([]byte{7}, 32), token.Config{Now: clk.now})
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := c.Open(s); err == nil {
			t.Fatalf("forged token accepted: %q", s)
		}
	})
}
