package channel

import (
	"testing"
	"unicode/utf8"
)

func TestSplitUTF8(t *testing.T) {
	euro := []byte("€") // e2 82 ac
	tests := []struct {
		name string
		in   []byte
		want int
	}{
		{"empty", nil, 0},
		{"ascii", []byte("abc"), 3},
		{"complete", append([]byte("a"), euro...), 4},
		{"one of three", append([]byte("a"), euro[0]), 1},
		{"two of three", append([]byte("a"), euro[:2]...), 1},
		{"invalid continuation only", []byte{'a', 0x82, 0x82, 0x82}, 4},
		{"lone start byte alone", []byte{0xf0}, 0},
		{"four-byte complete", []byte("😀"), 4},
		{"four-byte missing one", []byte("😀")[:3], 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SplitUTF8(tc.in); got != tc.want {
				t.Fatalf("SplitUTF8(% x) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzSplitUTF8(f *testing.F) {
	f.Add([]byte("héllo €"))
	f.Fuzz(func(t *testing.T, p []byte) {
		n := SplitUTF8(p)
		if n < 0 || n > len(p) || len(p)-n > 3 {
			t.Fatalf("SplitUTF8 = %d for %d bytes", n, len(p))
		}
		if utf8.Valid(p) && n < len(p) {
			t.Fatalf("held back bytes of valid UTF-8 % x", p)
		}
	})
}
