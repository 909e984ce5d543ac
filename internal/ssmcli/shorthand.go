package ssmcli

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// The shorthand syntax parser is a port of awscli/shorthand.py
// (ShorthandParser and BackCompatVisitor): `key=value,key2=a,b` and the
// explicit `[...]` / `{...}` forms.

var (
	shStart        = `!#-&(-+\--<>-Z\\-z|-\x{ffff}`
	shFirstFollow  = `\s!#-&(-+\--\\^-|~-\x{ffff}`
	shSecondFollow = `\s!#-&(-+\--<>-\x{ffff}`
	shFirstValue   = regexp.MustCompile(`^((\\,)|[` + shStart + `])((\\,)|[` + shFirstFollow + `])*`)
	shSecondValue  = regexp.MustCompile(`^((\\,)|[` + shStart + `])((\\,)|[` + shSecondFollow + `])*`)
	shSingleQuoted = regexp.MustCompile(`^'(?:\\\\|\\'|[^'])*'`)
	shDoubleQuoted = regexp.MustCompile(`^"(?:\\\\|\\"|[^"])*"`)
)

const shKeyChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.#/:"

// shorthandError is a shorthand syntax error with awscli's message.
type shorthandError struct{ msg string }

func (e *shorthandError) Error() string { return e.msg }

type shParser struct {
	in  string
	idx int // byte index
	ob  *orderBook
}

func (p *shParser) errorLocation(index int) string {
	consumed, remaining := p.in, ""
	numSpaces := utf8.RuneCountInString(p.in[:index])
	if i := strings.LastIndex(p.in[:index], "\n"); i >= 0 {
		numSpaces = utf8.RuneCountInString(p.in[i+1 : index])
	}
	if i := strings.Index(p.in[index:], "\n"); i >= 0 {
		consumed = p.in[:index+i]
		remaining = p.in[index+i:]
	}
	return consumed + "\n" + strings.Repeat(" ", numSpaces) + "^" + remaining
}

func (p *shParser) syntaxError(expected, actual string) error {
	return &shorthandError{fmt.Sprintf("Expected: '%s', received: '%s' for input:\n%s", expected, actual, p.errorLocation(p.idx))}
}

// parseShorthand parses one shorthand expression into an ordered map.
func parseShorthand(s string, ob *orderBook) (map[string]any, error) {
	p := &shParser{in: s, ob: ob}
	return p.parameter()
}

func (p *shParser) parameter() (map[string]any, error) {
	params := map[string]any{}
	var keys []string
	k, v, err := p.keyval()
	if err != nil {
		return nil, err
	}
	params[k] = v
	keys = append(keys, k)
	last := p.idx
	for p.idx < len(p.in) {
		if err := p.expect(',', true); err != nil {
			return nil, err
		}
		k, v, err := p.keyval()
		if err != nil {
			return nil, err
		}
		if _, dup := params[k]; dup {
			return nil, &shorthandError{fmt.Sprintf("Second instance of key \"%s\" encountered for input:\n%s\nThis is often because there is a preceding \",\" instead of a space.", k, p.errorLocation(last+1))}
		}
		params[k] = v
		keys = append(keys, k)
		last = p.idx
	}
	p.ob.set(params, keys)
	return params, nil
}

func (p *shParser) keyval() (string, any, error) {
	k := p.key()
	if err := p.expect('=', true); err != nil {
		return "", nil, err
	}
	v, err := p.values()
	return k, v, err
}

func (p *shParser) key() string {
	start := p.idx
	for !p.eof() && strings.IndexByte(shKeyChars, p.in[p.idx]) >= 0 {
		p.idx++
	}
	return p.in[start:p.idx]
}

func (p *shParser) values() (any, error) {
	switch {
	case p.eof():
		return "", nil
	case p.in[p.idx] == '[':
		return p.explicitList()
	case p.in[p.idx] == '{':
		return p.hashLiteral()
	}
	return p.csvValue()
}

func (p *shParser) csvValue() (any, error) {
	first, err := p.firstValue()
	if err != nil {
		return nil, err
	}
	p.consumeWhitespace()
	if p.eof() || p.in[p.idx] != ',' {
		return first, nil
	}
	if err := p.expect(',', true); err != nil {
		return nil, err
	}
	list := []any{first}
	for {
		cur, err := p.secondValue()
		if err == nil {
			p.consumeWhitespace()
			if p.eof() {
				list = append(list, cur)
				break
			}
			err = p.expect(',', true)
			if err == nil {
				list = append(list, cur)
				continue
			}
		}
		if p.eof() {
			return nil, err
		}
		p.backtrackTo(',')
		break
	}
	if len(list) == 1 {
		return first, nil
	}
	return list, nil
}

func (p *shParser) value() string {
	if m := shFirstValue.FindString(p.in[p.idx:]); m != "" {
		p.idx += len(m)
		return strings.TrimRight(strings.ReplaceAll(m, `\,`, ","), " \t\n\r\f\v")
	}
	return ""
}

func (p *shParser) explicitList() (any, error) {
	if err := p.expect('[', true); err != nil {
		return nil, err
	}
	values := []any{}
	for p.current() != ']' {
		v, err := p.explicitValues()
		if err != nil {
			return nil, err
		}
		values = append(values, v)
		p.consumeWhitespace()
		if p.current() != ']' {
			if err := p.expect(',', false); err != nil {
				return nil, err
			}
			p.consumeWhitespace()
		}
	}
	if err := p.expect(']', false); err != nil {
		return nil, err
	}
	return values, nil
}

func (p *shParser) explicitValues() (any, error) {
	switch p.current() {
	case '[':
		return p.explicitList()
	case '{':
		return p.hashLiteral()
	}
	return p.firstValue()
}

func (p *shParser) hashLiteral() (any, error) {
	if err := p.expect('{', true); err != nil {
		return nil, err
	}
	kv := map[string]any{}
	var keys []string
	for p.current() != '}' {
		k := p.key()
		if err := p.expect('=', true); err != nil {
			return nil, err
		}
		v, err := p.explicitValues()
		if err != nil {
			return nil, err
		}
		p.consumeWhitespace()
		if p.current() != '}' {
			if err := p.expect(',', false); err != nil {
				return nil, err
			}
			p.consumeWhitespace()
		}
		if _, dup := kv[k]; !dup {
			keys = append(keys, k)
		}
		kv[k] = v
	}
	if err := p.expect('}', false); err != nil {
		return nil, err
	}
	p.ob.set(kv, keys)
	return kv, nil
}

func (p *shParser) firstValue() (any, error) {
	switch p.current() {
	case '\'':
		return p.quoted(shSingleQuoted, "'")
	case '"':
		return p.quoted(shDoubleQuoted, "\"")
	}
	return p.value(), nil
}

func (p *shParser) quoted(re *regexp.Regexp, esc string) (any, error) {
	m, err := p.mustConsume(re, map[string]string{"'": "singled quoted", "\"": "double quoted"}[esc])
	if err != nil {
		return nil, err
	}
	v := m[1 : len(m)-1]
	v = strings.ReplaceAll(v, `\`+esc, esc)
	v = strings.ReplaceAll(v, `\\`, `\`)
	return v, nil
}

func (p *shParser) secondValue() (any, error) {
	switch p.current() {
	case '\'':
		return p.quoted(shSingleQuoted, "'")
	case '"':
		return p.quoted(shDoubleQuoted, "\"")
	}
	m, err := p.mustConsume(shSecondValue, "second")
	if err != nil {
		return nil, err
	}
	return strings.TrimRight(strings.ReplaceAll(m, `\,`, ","), " \t\n\r\f\v"), nil
}

func (p *shParser) mustConsume(re *regexp.Regexp, name string) (string, error) {
	if m := re.FindString(p.in[p.idx:]); m != "" {
		p.idx += len(m)
		return m, nil
	}
	return "", p.syntaxError("<"+name+">", "<none>")
}

func (p *shParser) expect(c byte, ws bool) error {
	if ws {
		p.consumeWhitespace()
	}
	if p.idx >= len(p.in) {
		return p.syntaxError(string(c), "EOF")
	}
	r, _ := utf8.DecodeRuneInString(p.in[p.idx:])
	if p.in[p.idx] != c {
		return p.syntaxError(string(c), string(r))
	}
	p.idx++
	if ws {
		p.consumeWhitespace()
	}
	return nil
}

// current returns the byte at the cursor, 0 at EOF.
func (p *shParser) current() byte {
	if p.idx < len(p.in) {
		return p.in[p.idx]
	}
	return 0
}

func (p *shParser) eof() bool { return p.idx >= len(p.in) }

func (p *shParser) backtrackTo(c byte) {
	for p.idx >= 0 && (p.idx >= len(p.in) || p.in[p.idx] != c) {
		p.idx--
	}
}

func (p *shParser) consumeWhitespace() {
	for !p.eof() && strings.IndexByte(" \t\n\r\v\f", p.in[p.idx]) >= 0 {
		p.idx++
	}
}

// backCompat applies BackCompatVisitor: scalars become one-element lists
// where the model wants a list, and numeric strings become numbers.
func backCompat(v any, s *Shape) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch s.Type {
	case "structure":
		m, ok := v.(map[string]any)
		if !ok {
			return v, nil
		}
		for _, mem := range s.Members {
			if mv, ok := m[mem.Name]; ok {
				nv, err := backCompat(mv, mem.Shape)
				if err != nil {
					return nil, err
				}
				m[mem.Name] = nv
			}
		}
		return m, nil
	case "list":
		l, ok := v.([]any)
		if !ok {
			return []any{v}, nil
		}
		for i := range l {
			nv, err := backCompat(l[i], s.Member)
			if err != nil {
				return nil, err
			}
			l[i] = nv
		}
		return l, nil
	case "map":
		m, ok := v.(map[string]any)
		if !ok {
			return v, nil
		}
		for k, mv := range m {
			nv, err := backCompat(mv, s.Value)
			if err != nil {
				return nil, err
			}
			m[k] = nv
		}
		return m, nil
	case "integer", "long":
		if str, ok := v.(string); ok {
			n, err := pyInt(str)
			if err != nil {
				return nil, err
			}
			return float64(n), nil
		}
	case "double", "float":
		if str, ok := v.(string); ok {
			var f float64
			if _, err := fmt.Sscan(strings.TrimSpace(str), &f); err != nil {
				return nil, fmt.Errorf("could not convert string to float: %s", pyRepr(str))
			}
			return f, nil
		}
	}
	return v, nil
}
