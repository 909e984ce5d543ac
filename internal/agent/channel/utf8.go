package channel

import "unicode/utf8"

// SplitUTF8 returns how many leading bytes of p can be sent without cutting
// a UTF-8 sequence in two: it holds back at most 3 trailing bytes that start
// an incomplete sequence, as the real agent does for terminal output.
// Invalid bytes are not held back.
func SplitUTF8(p []byte) int {
	n := len(p)
	for i := n - 1; i >= 0 && i >= n-3; i-- {
		b := p[i]
		if b < 0x80 {
			return n // ASCII: nothing pending
		}
		if !utf8.RuneStart(b) {
			continue // continuation byte: keep looking for the start
		}
		if utf8.FullRune(p[i:]) {
			return n
		}
		return i
	}
	return n
}
