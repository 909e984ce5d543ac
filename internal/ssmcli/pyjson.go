package ssmcli

import (
	"fmt"
	"strings"
)

// pyJSONError reproduces the message of Python's json.JSONDecodeError for
// doc, e.g. "Expecting value: line 1 column 10 (char 9)".
func pyJSONError(doc string, _ error) string {
	s := &pyScanner{r: []rune(doc)}
	msg, pos := s.check()
	if msg == "" {
		msg, pos = "Expecting value", 0
	}
	line := 1 + strings.Count(string(s.r[:pos]), "\n")
	col := pos + 1
	if i := strings.LastIndex(string(s.r[:pos]), "\n"); i >= 0 {
		col = pos - len([]rune(string(s.r[:pos])[:i+1])) + 1
	}
	return fmt.Sprintf("%s: line %d column %d (char %d)", msg, line, col, pos)
}

type pyScanner struct {
	r []rune
	i int
}

func (s *pyScanner) ws() {
	for s.i < len(s.r) && strings.ContainsRune(" \t\n\r", s.r[s.i]) {
		s.i++
	}
}

// check scans a whole document and returns the first error.
func (s *pyScanner) check() (string, int) {
	s.ws()
	if msg, pos := s.value(); msg != "" {
		return msg, pos
	}
	s.ws()
	if s.i < len(s.r) {
		return "Extra data", s.i
	}
	return "", 0
}

func (s *pyScanner) value() (string, int) {
	if s.i >= len(s.r) {
		return "Expecting value", s.i
	}
	switch c := s.r[s.i]; {
	case c == '"':
		return s.str()
	case c == '{':
		return s.object()
	case c == '[':
		return s.array()
	case c == '-' || c >= '0' && c <= '9':
		start := s.i
		if c == '-' {
			s.i++
		}
		digits := 0
		for s.i < len(s.r) && (s.r[s.i] >= '0' && s.r[s.i] <= '9' || strings.ContainsRune(".eE+-", s.r[s.i])) {
			s.i++
			digits++
		}
		if digits == 0 {
			return "Expecting value", start
		}
		return "", 0
	}
	for _, lit := range []string{"null", "true", "false", "NaN", "Infinity", "-Infinity"} {
		if strings.HasPrefix(string(s.r[s.i:]), lit) {
			s.i += len(lit)
			return "", 0
		}
	}
	return "Expecting value", s.i
}

func (s *pyScanner) str() (string, int) {
	start := s.i
	s.i++
	for s.i < len(s.r) {
		c := s.r[s.i]
		switch {
		case c == '"':
			s.i++
			return "", 0
		case c == '\\':
			if s.i+1 >= len(s.r) {
				return "Unterminated string starting at", start
			}
			if !strings.ContainsRune(`"\/bfnrtu`, s.r[s.i+1]) {
				return "Invalid \\escape", s.i
			}
			s.i += 2
		case c < 0x20:
			return "Invalid control character at", s.i
		default:
			s.i++
		}
	}
	return "Unterminated string starting at", start
}

func (s *pyScanner) object() (string, int) {
	s.i++
	s.ws()
	if s.i < len(s.r) && s.r[s.i] == '}' {
		s.i++
		return "", 0
	}
	for {
		if s.i >= len(s.r) || s.r[s.i] != '"' {
			return "Expecting property name enclosed in double quotes", s.i
		}
		if msg, pos := s.str(); msg != "" {
			return msg, pos
		}
		s.ws()
		if s.i >= len(s.r) || s.r[s.i] != ':' {
			return "Expecting ':' delimiter", s.i
		}
		s.i++
		s.ws()
		if msg, pos := s.value(); msg != "" {
			return msg, pos
		}
		s.ws()
		if s.i < len(s.r) && s.r[s.i] == '}' {
			s.i++
			return "", 0
		}
		if s.i >= len(s.r) || s.r[s.i] != ',' {
			return "Expecting ',' delimiter", s.i
		}
		s.i++
		s.ws()
	}
}

func (s *pyScanner) array() (string, int) {
	s.i++
	s.ws()
	if s.i < len(s.r) && s.r[s.i] == ']' {
		s.i++
		return "", 0
	}
	for {
		s.ws()
		if msg, pos := s.value(); msg != "" {
			return msg, pos
		}
		s.ws()
		if s.i < len(s.r) && s.r[s.i] == ']' {
			s.i++
			return "", 0
		}
		if s.i >= len(s.r) || s.r[s.i] != ',' {
			return "Expecting ',' delimiter", s.i
		}
		s.i++
	}
}
