// Package token mints and verifies Tether's session tokens: the TokenValue
// that StartSession and ResumeSession return, and the tokens the agent gets
// for its data channel. A token is AES-256-GCM-sealed under a server key kept
// in the data directory and carries the session id, the role (client or
// agent), the principal ARN, a generation, and issue and expiry times. Tokens
// are at most MaxLen (300) characters of URL-safe base64, as the API model
// requires.
//
// The same key also seals opaque values for other purposes (pagination
// tokens), with the purpose bound as additional data so that one kind can
// never be replayed as another.
//
// The package imports only the standard library.
package token

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MaxLen is the longest token the API model allows (TokenValue, 0–300).
const MaxLen = 300

// KeySize is the size of a server key (AES-256).
const KeySize = 32

// version is the first byte of every token; it changes with the layout.
const version = 1

// Errors returned by Open and Verify; test with errors.Is.
var (
	ErrMalformed  = errors.New("token is malformed")
	ErrTampered   = errors.New("token failed authentication (tampered or sealed under another key)")
	ErrExpired    = errors.New("token has expired")
	ErrSuperseded = errors.New("token has been superseded by a newer one")
	ErrWrongRole  = errors.New("token was issued for another role")
	ErrTooLong    = errors.New("token would exceed 300 characters")
)

// Role says who may use a token.
type Role byte

// Roles.
const (
	RoleClient Role = 1 // the session's client (CLI, plugin)
	RoleAgent  Role = 2 // the agent serving the session
)

func (r Role) String() string {
	switch r {
	case RoleClient:
		return "client"
	case RoleAgent:
		return "agent"
	}
	return fmt.Sprintf("role(%d)", byte(r))
}

// Claims is what a token says.
type Claims struct {
	SessionID  string
	Role       Role
	Principal  string // ARN of the caller that obtained the token
	Generation int64  // the session's client generation when minted
	IssuedAt   time.Time
	Expiry     time.Time
}

// Config configures a Codec.
type Config struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Codec seals and opens tokens under one key. It is safe for concurrent use.
type Codec struct {
	aead cipher.AEAD
	now  func() time.Time
}

// New returns a Codec for a 32-byte key.
func New(key []byte, cfg Config) (*Codec, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("token key must be %d bytes, not %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("token key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("token key: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Codec{aead: aead, now: cfg.Now}, nil
}

// Purpose names of sealed values; bound as additional data.
const purposeSession = "tether-session-token"

// Seal mints a token for c.
func (c *Codec) Seal(cl Claims) (string, error) {
	if cl.Role != RoleClient && cl.Role != RoleAgent {
		return "", fmt.Errorf("seal token: invalid role %d", cl.Role)
	}
	tok := c.SealValue(purposeSession, encodeClaims(cl))
	if len(tok) > MaxLen {
		return "", fmt.Errorf("seal token for %s: %w", cl.SessionID, ErrTooLong)
	}
	return tok, nil
}

// Open authenticates and decodes a token and checks its expiry. It does not
// check the generation or the role: see Verify.
func (c *Codec) Open(tok string) (Claims, error) {
	if len(tok) > MaxLen {
		return Claims{}, ErrMalformed
	}
	pt, err := c.OpenValue(purposeSession, tok)
	if err != nil {
		return Claims{}, err
	}
	cl, err := decodeClaims(pt)
	if err != nil {
		return Claims{}, err
	}
	if !c.now().Before(cl.Expiry) {
		return cl, fmt.Errorf("token for session %s expired at %s: %w", cl.SessionID, cl.Expiry.Format(time.RFC3339), ErrExpired)
	}
	return cl, nil
}

// Verify opens tok and checks that it is for role and not older than the
// session's current generation (a newer ResumeSession supersedes it).
func (c *Codec) Verify(tok string, role Role, currentGeneration int64) (Claims, error) {
	cl, err := c.Open(tok)
	if err != nil {
		return cl, err
	}
	if cl.Role != role {
		return cl, fmt.Errorf("token for session %s is a %s token: %w", cl.SessionID, cl.Role, ErrWrongRole)
	}
	if cl.Generation < currentGeneration {
		return cl, fmt.Errorf("token for session %s has generation %d, current is %d: %w", cl.SessionID, cl.Generation, currentGeneration, ErrSuperseded)
	}
	return cl, nil
}

// SealValue seals arbitrary bytes for purpose (e.g. "describe-sessions
// page"); only OpenValue with the same purpose and key opens it.
func (c *Codec) SealValue(purpose string, plaintext []byte) string {
	buf := make([]byte, 1+c.aead.NonceSize(), 1+c.aead.NonceSize()+len(plaintext)+c.aead.Overhead())
	buf[0] = version
	rand.Read(buf[1:]) //nolint:errcheck // crypto/rand.Read never fails
	out := c.aead.Seal(buf, buf[1:], plaintext, []byte(purpose))
	return base64.RawURLEncoding.EncodeToString(out)
}

// OpenValue opens a value sealed by SealValue for the same purpose.
func (c *Codec) OpenValue(purpose, s string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(raw) < 1+c.aead.NonceSize()+c.aead.Overhead() || raw[0] != version {
		return nil, ErrMalformed
	}
	ns := c.aead.NonceSize()
	pt, err := c.aead.Open(nil, raw[1:1+ns], raw[1+ns:], []byte(purpose))
	if err != nil {
		return nil, ErrTampered
	}
	return pt, nil
}

// Claims layout (all integers unsigned varints unless noted):
//
//	role (1 byte) | generation | issued-at (unix ms) | lifetime (ms) |
//	len | session id | principal form (1 byte) | principal data
//
// Principal form 1 means "arn:aws:iam::<account>:user/<name>" where <name>
// is the session id's prefix before its last '-': only the account is
// stored. Form 0 stores the ARN verbatim. This keeps the longest token
// (64-character user name) well under 300 characters.
func encodeClaims(cl Claims) []byte {
	b := make([]byte, 0, 64+len(cl.SessionID)+len(cl.Principal))
	b = append(b, byte(cl.Role))
	b = binary.AppendUvarint(b, uint64(cl.Generation))
	issued := cl.IssuedAt.UnixMilli()
	b = binary.AppendUvarint(b, uint64(issued))
	b = binary.AppendUvarint(b, uint64(max(cl.Expiry.UnixMilli()-issued, 0)))
	b = appendString(b, cl.SessionID)
	if acct, ok := compactPrincipal(cl.SessionID, cl.Principal); ok {
		b = append(b, 1)
		return appendString(b, acct)
	}
	b = append(b, 0)
	return appendString(b, cl.Principal)
}

func compactPrincipal(sessionID, arn string) (account string, ok bool) {
	i := strings.LastIndexByte(sessionID, '-')
	if i <= 0 {
		return "", false
	}
	rest, found := strings.CutPrefix(arn, "arn:aws:iam::")
	if !found {
		return "", false
	}
	acct, user, found := strings.Cut(rest, ":user/")
	if !found || user != sessionID[:i] || strings.Contains(acct, ":") {
		return "", false
	}
	return acct, true
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func decodeClaims(b []byte) (Claims, error) {
	var cl Claims
	d := decoder{b: b}
	cl.Role = Role(d.byte())
	cl.Generation = int64(d.uvarint())
	issued := int64(d.uvarint())
	life := int64(d.uvarint())
	cl.SessionID = d.string()
	form := d.byte()
	p := d.string()
	if d.err || len(d.b) != 0 || form > 1 || issued < 0 || life < 0 {
		return Claims{}, ErrMalformed
	}
	cl.IssuedAt = time.UnixMilli(issued).UTC()
	cl.Expiry = time.UnixMilli(issued + life).UTC()
	cl.Principal = p
	if form == 1 {
		i := strings.LastIndexByte(cl.SessionID, '-')
		if i <= 0 {
			return Claims{}, ErrMalformed
		}
		cl.Principal = "arn:aws:iam::" + p + ":user/" + cl.SessionID[:i]
	}
	return cl, nil
}

type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.err = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > 1<<62 {
		d.err = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err || n > uint64(len(d.b)) {
		d.err = true
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
