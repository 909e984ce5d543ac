package wire

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// UUID is a MessageId in its canonical byte order (the order of its textual
// form). On the wire its two 8-byte halves are swapped (protocol.md §3.2);
// Encode and Decode do the swap.
type UUID [16]byte

// NewUUID returns a random version 4 UUID from crypto/rand.
func NewUUID() UUID {
	var u UUID
	_, _ = rand.Read(u[:]) // never fails (crypto/rand documents it)
	return u.asV4()
}

// UUIDFromBytes turns 16 random bytes into a version 4 UUID, for callers with
// their own (faster) random source.
func UUIDFromBytes(b [16]byte) UUID { return UUID(b).asV4() }

func (u UUID) asV4() UUID {
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// String returns the lowercase hyphenated form, e.g.
// "dd01e56b-ff48-483e-a508-b5f073f31b16", as the plugin writes it in
// AcknowledgedMessageId.
func (u UUID) String() string {
	var b [36]byte
	u.appendTo(b[:0])
	return string(b[:])
}

// appendTo appends the textual form without allocating.
func (u UUID) appendTo(dst []byte) []byte {
	const hexdigits = "0123456789abcdef"
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexdigits[c>>4], hexdigits[c&0x0f])
	}
	return dst
}

// IsZero reports whether u is the nil UUID.
func (u UUID) IsZero() bool { return u == UUID{} }

// ParseUUID parses the hyphenated textual form (either case).
func ParseUUID(s string) (UUID, error) {
	var u UUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("parse uuid %q: %w", s, ErrBadPayload)
	}
	src := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	if _, err := hex.Decode(u[:], []byte(src)); err != nil {
		return UUID{}, fmt.Errorf("parse uuid %q: %w", s, ErrBadPayload)
	}
	return u, nil
}
