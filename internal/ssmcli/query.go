package ssmcli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jmespath/go-jmespath"
)

// query is a compiled --query expression.
type query struct {
	expr   string
	jp     *jmespath.JMESPath
	hashes [][]string // key order of each multi-select hash
}

// compileQuery compiles expr, rendering errors like Python's jmespath as
// awscli prints them after "Bad value for --query <expr>: ".
func compileQuery(expr string) (*query, error) {
	if msg := pyJMESPathCheck(expr); msg != "" {
		return nil, &validationError{fmt.Sprintf("Bad value for --query %s: %s", expr, msg)}
	}
	jp, err := jmespath.Compile(legacyLiterals(expr))
	if err != nil {
		return nil, &validationError{fmt.Sprintf("Bad value for --query %s: %s", expr, jmespathErrorText(expr, err))}
	}
	return &query{expr: expr, jp: jp, hashes: multiSelectHashKeys(expr)}, nil
}

func jmespathErrorText(expr string, err error) string {
	var se jmespath.SyntaxError
	offset := len(expr)
	msg := err.Error()
	if errors.As(err, &se) {
		offset = se.Offset
		msg = strings.TrimPrefix(se.Error(), "SyntaxError: ")
	}
	for _, d := range []string{"`", "\"", "'"} {
		if strings.Contains(msg, "Unclosed delimiter") || strings.Contains(strings.ToLower(msg), "unclosed") {
			if i := strings.Index(expr, d); i >= 0 && strings.Count(expr[i:], d)%2 == 1 {
				return fmt.Sprintf("Bad jmespath expression: Unclosed %s delimiter:\n%s\n%s^", d, expr, strings.Repeat(" ", i))
			}
		}
	}
	if offset >= len(expr) || strings.Contains(msg, "EOF") || strings.Contains(msg, "eof") {
		return fmt.Sprintf("Invalid jmespath expression: Incomplete expression:\n\"%s\"\n%s^", expr, strings.Repeat(" ", len(expr)+1))
	}
	return fmt.Sprintf("%s: Parse error at column %d, token \"%s\", for expression:\n\"%s\"\n%s^",
		msg, offset, tokenAt(expr, offset), expr, strings.Repeat(" ", offset+1))
}

func tokenAt(expr string, off int) string {
	if off < 0 || off >= len(expr) {
		return ""
	}
	end := off + 1
	for end < len(expr) && isIdentChar(expr[end]) && isIdentChar(expr[off]) {
		end++
	}
	return expr[off:end]
}

func isIdentChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// multiSelectHashKeys scans expr for {key: ..., key2: ...} and returns the
// key lists in source order, so printed objects keep the query's order.
func multiSelectHashKeys(expr string) [][]string {
	type frame struct {
		brace bool
		keys  []string
	}
	var stack []*frame
	var out [][]string
	expectKey := false
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch c {
		case '`', '\'':
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' {
					j++
				}
				j++
			}
			i = j
			expectKey = false
		case '"':
			j := i + 1
			for j < len(expr) && expr[j] != '"' {
				if expr[j] == '\\' {
					j++
				}
				j++
			}
			if expectKey && len(stack) > 0 && stack[len(stack)-1].brace {
				name := expr[i+1 : min(j, len(expr))]
				stack[len(stack)-1].keys = append(stack[len(stack)-1].keys, name)
			}
			i = j
			expectKey = false
		case '{':
			stack = append(stack, &frame{brace: true})
			expectKey = true
		case '[', '(':
			stack = append(stack, &frame{})
			expectKey = false
		case '}', ']', ')':
			if len(stack) > 0 {
				f := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if f.brace && len(f.keys) > 0 {
					out = append(out, f.keys)
				}
			}
			expectKey = false
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1].brace
		case ' ', '\t', '\n', '\r':
		default:
			if isIdentChar(c) {
				j := i
				for j < len(expr) && isIdentChar(expr[j]) {
					j++
				}
				if expectKey && len(stack) > 0 && stack[len(stack)-1].brace {
					stack[len(stack)-1].keys = append(stack[len(stack)-1].keys, expr[i:j])
				}
				i = j - 1
			}
			expectKey = false
		}
	}
	return out
}

// legacyLiterals rewrites `foo` literals that are not valid JSON into
// JSON strings, as Python's jmespath accepts them (deprecated syntax).
func legacyLiterals(expr string) string {
	var b strings.Builder
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		if c == '\'' || c == '"' {
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' {
					j++
				}
				j++
			}
			b.WriteString(expr[i:min(j+1, len(expr))])
			i = j
			continue
		}
		if c != '`' {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		for j < len(expr) && expr[j] != '`' {
			if expr[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(expr) {
			b.WriteString(expr[i:])
			break
		}
		lit := strings.ReplaceAll(expr[i+1:j], "\\`", "`")
		if !json.Valid([]byte(lit)) {
			if cand := `"` + strings.TrimLeft(lit, " \t\n\r") + `"`; json.Valid([]byte(cand)) {
				lit = cand
			}
		}
		b.WriteString("`" + strings.ReplaceAll(lit, "`", "\\`") + "`")
		i = j
	}
	return b.String()
}

// search applies the query to data.
func (q *query) search(data any, ob *orderBook) (any, error) {
	if q == nil {
		return data, nil
	}
	res, err := q.jp.Search(data)
	if err != nil {
		return nil, queryRuntimeError(q.expr, data, err, ob)
	}
	if strings.Contains(q.expr, "keys(") {
		res = orderKeyLists(res, ob)
	}
	return res, nil
}

// orderKeyLists puts the result of keys() in the key order of the object
// it came from; go-jmespath returns Go map order.
func orderKeyLists(v any, ob *orderBook) any {
	l, ok := v.([]any)
	if !ok {
		return v
	}
	names := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			for i := range l {
				l[i] = orderKeyLists(l[i], ob)
			}
			return l
		}
		names = append(names, s)
	}
	if ob == nil {
		return l
	}
	set := map[string]any{}
	for _, n := range names {
		set[n] = true
	}
	for _, e := range ob.byMap {
		if len(e.keys) == len(set) && sameKeys(e.keys, set) {
			out := make([]any, len(e.keys))
			for i, k := range e.keys {
				out[i] = k
			}
			return out
		}
	}
	return l
}
