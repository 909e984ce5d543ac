package ssmcli

import (
	"encoding/json"
	"fmt"
	"strings"
)

// pyJMESPathCheck parses expr with a port of the lexer and the Pratt
// parser of Python's jmespath (the version the Debian CLI uses) and
// returns the exact text of the exception Python would raise, or "" when
// the expression parses. Evaluation is left to go-jmespath.
func pyJMESPathCheck(expr string) string {
	if expr == "" {
		return "Invalid JMESPath expression: cannot be empty."
	}
	toks, lerr := pyLex(expr)
	if lerr != nil {
		return fmt.Sprintf("Bad jmespath expression: %s:\n%s\n%s^", lerr.msg, expr, strings.Repeat(" ", lerr.pos))
	}
	p := &pyParser{toks: toks, src: expr}
	err := p.parse()
	if err == nil {
		return ""
	}
	if err.incomplete {
		return fmt.Sprintf("Invalid jmespath expression: Incomplete expression:\n\"%s\"\n%s^", expr, strings.Repeat(" ", len([]rune(expr))+1))
	}
	return fmt.Sprintf("%s: Parse error at column %d, token \"%s\" (%s), for expression:\n\"%s\"\n%s^",
		err.msg, err.tok.start, err.tok.value, strings.ToUpper(err.tok.typ), expr, strings.Repeat(" ", err.tok.start+1))
}

type pyToken struct {
	typ, value string
	start      int
}

type pyLexError struct {
	msg string
	pos int
}

var pySimpleTokens = map[rune]string{'.': "dot", '*': "star", ']': "rbracket", ',': "comma", ':': "colon",
	'@': "current", '(': "lparen", ')': "rparen", '{': "lbrace", '}': "rbrace"}

func isPyIdentStart(r rune) bool { return r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }
func isPyIdent(r rune) bool      { return isPyIdentStart(r) || r >= '0' && r <= '9' }

func pyLex(expr string) ([]pyToken, *pyLexError) {
	rs := []rune(expr)
	var toks []pyToken
	i := 0
	cur := func() rune {
		if i < len(rs) {
			return rs[i]
		}
		return -1
	}
	consumeUntil := func(delim rune) (string, *pyLexError) {
		start := i
		var b strings.Builder
		i++
		for cur() != delim {
			if cur() == '\\' {
				b.WriteRune('\\')
				i++
			}
			if cur() == -1 {
				return "", &pyLexError{fmt.Sprintf("Unclosed %c delimiter", delim), start}
			}
			b.WriteRune(cur())
			i++
		}
		i++
		return b.String(), nil
	}
	matchOrElse := func(expected rune, match, other string) pyToken {
		start, c := i, rs[i]
		i++
		if cur() == expected {
			i++
			return pyToken{match, string([]rune{c, expected}), start}
		}
		return pyToken{other, string(c), start}
	}
	for i < len(rs) {
		c := rs[i]
		switch {
		case pySimpleTokens[c] != "":
			toks = append(toks, pyToken{pySimpleTokens[c], string(c), i})
			i++
		case isPyIdentStart(c):
			start := i
			for i < len(rs) && isPyIdent(rs[i]) {
				i++
			}
			toks = append(toks, pyToken{"unquoted_identifier", string(rs[start:i]), start})
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '[':
			start := i
			i++
			switch cur() {
			case ']':
				i++
				toks = append(toks, pyToken{"flatten", "[]", start})
			case '?':
				i++
				toks = append(toks, pyToken{"filter", "[?", start})
			default:
				toks = append(toks, pyToken{"lbracket", "[", start})
			}
		case c == '\'':
			start := i
			s, err := consumeUntil('\'')
			if err != nil {
				return nil, err
			}
			toks = append(toks, pyToken{"literal", strings.ReplaceAll(s, `\'`, "'"), start})
		case c == '|':
			toks = append(toks, matchOrElse('|', "or", "pipe"))
		case c == '&':
			toks = append(toks, matchOrElse('&', "and", "expref"))
		case c == '`':
			start := i
			s, err := consumeUntil('`')
			if err != nil {
				return nil, err
			}
			lit := strings.ReplaceAll(s, "\\`", "`")
			if !json.Valid([]byte(lit)) && !json.Valid([]byte(`"`+strings.TrimLeft(lit, " \t\n\r\f\v")+`"`)) {
				return nil, &pyLexError{"Bad token " + lit, start}
			}
			toks = append(toks, pyToken{"literal", pyLiteralText(lit), start})
		case c >= '0' && c <= '9' || c == '-':
			start := i
			i++
			for i < len(rs) && rs[i] >= '0' && rs[i] <= '9' {
				i++
			}
			if c == '-' && i-start == 1 {
				return nil, &pyLexError{"Unknown token '-'", start}
			}
			toks = append(toks, pyToken{"number", pyIntString(string(rs[start:i])), start})
		case c == '"':
			start := i
			s, err := consumeUntil('"')
			if err != nil {
				return nil, err
			}
			var v string
			if e := json.Unmarshal([]byte(`"`+s+`"`), &v); e != nil {
				msg := pyJSONError(`"`+s+`"`, e)
				msg, _, _ = strings.Cut(msg, ":")
				return nil, &pyLexError{msg, start}
			}
			toks = append(toks, pyToken{"quoted_identifier", v, start})
		case c == '<':
			toks = append(toks, matchOrElse('=', "lte", "lt"))
		case c == '>':
			toks = append(toks, matchOrElse('=', "gte", "gt"))
		case c == '!':
			toks = append(toks, matchOrElse('=', "ne", "not"))
		case c == '=':
			i++
			if cur() == '=' {
				toks = append(toks, pyToken{"eq", "==", i - 1})
				i++
			} else {
				pos := i - 1
				if cur() == -1 {
					pos = i - 1
				}
				return nil, &pyLexError{"Unknown token '='", pos}
			}
		default:
			return nil, &pyLexError{fmt.Sprintf("Unknown token %c", c), i}
		}
	}
	toks = append(toks, pyToken{"eof", "", len(rs)})
	return toks, nil
}

// pyIntString renders a numeric token as Python's int() would print it.
func pyIntString(v string) string {
	neg := strings.HasPrefix(v, "-")
	d := strings.TrimLeft(strings.TrimPrefix(v, "-"), "0")
	if d == "" {
		return "0"
	}
	if neg {
		return "-" + d
	}
	return d
}

var pyBindingPower = map[string]int{
	"eof": 0, "unquoted_identifier": 0, "quoted_identifier": 0, "literal": 0, "rbracket": 0, "rparen": 0,
	"comma": 0, "rbrace": 0, "number": 0, "current": 0, "expref": 0, "colon": 0, "pipe": 1, "or": 2,
	"and": 3, "eq": 5, "gt": 5, "lt": 5, "gte": 5, "lte": 5, "ne": 5, "flatten": 9, "star": 20,
	"filter": 21, "dot": 40, "not": 45, "lbrace": 50, "lbracket": 55, "lparen": 60,
}

const pyProjectionStop = 10

type pyParseError struct {
	msg        string
	tok        pyToken
	incomplete bool
}

type pyParser struct {
	toks  []pyToken
	i     int
	src   string
	depth int      // >0 inside projections and filters
	calls []pyCall // function calls in source order
}

// pyCall is a function call seen by the parser.
type pyCall struct {
	name     string
	args     []string // argument source text
	topLevel bool     // evaluated against the root, not inside a projection
}

// pyPanic carries a parse error out of the recursive descent.
type pyPanic struct{ err *pyParseError }

func (p *pyParser) parse() (err *pyParseError) {
	defer func() {
		if r := recover(); r != nil {
			pp, ok := r.(pyPanic)
			if !ok {
				panic(r)
			}
			err = pp.err
		}
	}()
	p.expression(0)
	if p.cur() != "eof" {
		t := p.tok(0)
		p.fail(t, "Unexpected token: "+t.value)
	}
	return nil
}

func (p *pyParser) tok(n int) pyToken {
	j := p.i + n
	if j < 0 {
		j += len(p.toks)
	}
	if j >= len(p.toks) {
		return p.toks[len(p.toks)-1]
	}
	return p.toks[j]
}

func (p *pyParser) cur() string       { return p.tok(0).typ }
func (p *pyParser) advance()          { p.i++ }
func (p *pyParser) look(n int) string { return p.tok(n).typ }

func (p *pyParser) fail(t pyToken, reason string) {
	panic(pyPanic{&pyParseError{msg: reason, tok: t}})
}

func (p *pyParser) failMaybeEOF(expected string, t pyToken) {
	if t.typ == "eof" {
		panic(pyPanic{&pyParseError{incomplete: true, tok: t}})
	}
	p.fail(t, fmt.Sprintf("Expecting: %s, got: %s", expected, t.typ))
}

func (p *pyParser) match(typ string) {
	if p.cur() == typ {
		p.advance()
		return
	}
	p.failMaybeEOF(typ, p.tok(0))
}

func (p *pyParser) matchAny(types []string) {
	if !contains(types, p.cur()) {
		p.failMaybeEOF(pyList(types), p.tok(0))
	}
	p.advance()
}

func pyList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = "'" + v + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// expression returns the AST node type ("field", "subexpression", …).
func (p *pyParser) expression(bp int) string {
	left := p.tok(0)
	p.advance()
	node := p.nud(left)
	for bp < pyBindingPower[p.cur()] {
		t := p.cur()
		if !p.hasLed(t) {
			p.fail(p.tok(0), "invalid token")
		}
		p.advance()
		node = p.led(t, node)
	}
	return node
}

func (p *pyParser) hasLed(t string) bool {
	switch t {
	case "dot", "pipe", "or", "and", "lparen", "filter", "eq", "ne", "gt", "gte", "lt", "lte", "flatten", "lbracket":
		return true
	}
	return false
}

func (p *pyParser) nud(t pyToken) string {
	switch t.typ {
	case "literal":
		return "literal"
	case "unquoted_identifier":
		return "field"
	case "quoted_identifier":
		if p.cur() == "lparen" {
			lt := p.tok(0)
			lt.start = 0
			p.fail(lt, "Quoted identifier not allowed for function names.")
		}
		return "field"
	case "star":
		if p.cur() != "rbracket" {
			p.projectionRHS(pyBindingPower["star"])
		}
		return "value_projection"
	case "filter":
		return p.led("filter", "identity")
	case "lbrace":
		p.multiSelectHash()
		return "multi_select_dict"
	case "lparen":
		n := p.expression(0)
		p.match("rparen")
		return n
	case "flatten":
		p.projectionRHS(pyBindingPower["flatten"])
		return "projection"
	case "not":
		p.expression(pyBindingPower["not"])
		return "not_expression"
	case "lbracket":
		switch {
		case p.cur() == "number" || p.cur() == "colon":
			right := p.indexExpression()
			return p.projectIfSlice(right)
		case p.cur() == "star" && p.look(1) == "rbracket":
			p.advance()
			p.advance()
			p.projectionRHS(pyBindingPower["star"])
			return "projection"
		}
		p.multiSelectList()
		return "multi_select_list"
	case "current":
		return "current"
	case "expref":
		p.expression(pyBindingPower["expref"])
		return "expref"
	case "eof":
		panic(pyPanic{&pyParseError{incomplete: true, tok: t}})
	}
	p.fail(t, "invalid token")
	return ""
}

func (p *pyParser) led(t, left string) string {
	switch t {
	case "dot":
		if p.cur() != "star" {
			p.dotRHS(pyBindingPower["dot"])
			return "subexpression"
		}
		p.advance()
		p.projectionRHS(pyBindingPower["dot"])
		return "value_projection"
	case "pipe", "or", "and":
		p.expression(pyBindingPower[t])
		return t
	case "lparen":
		if left != "field" {
			prev := p.tok(-2)
			p.fail(prev, fmt.Sprintf("Invalid function name '%s'", prev.value))
		}
		call := pyCall{name: p.tok(-2).value, topLevel: p.depth == 0}
		for p.cur() != "rparen" {
			start := p.tok(0).start
			p.expression(0)
			call.args = append(call.args, string([]rune(p.src)[start:p.tok(0).start]))
			if p.cur() == "comma" {
				p.match("comma")
			}
		}
		p.match("rparen")
		p.calls = append(p.calls, call)
		return "function_expression"
	case "filter":
		p.depth++
		p.expression(0)
		p.depth--
		p.match("rbracket")
		if p.cur() != "flatten" {
			p.projectionRHS(pyBindingPower["filter"])
		}
		return "filter_projection"
	case "eq", "ne", "gt", "gte", "lt", "lte":
		p.expression(pyBindingPower[t])
		return "comparator"
	case "flatten":
		p.projectionRHS(pyBindingPower["flatten"])
		return "projection"
	case "lbracket":
		if tt := p.cur(); tt == "number" || tt == "colon" {
			right := p.indexExpression()
			if left == "index_expression" {
				return left
			}
			return p.projectIfSlice(right)
		}
		p.match("star")
		p.match("rbracket")
		p.projectionRHS(pyBindingPower["star"])
		return "projection"
	}
	return left
}

func (p *pyParser) indexExpression() string {
	if p.look(0) == "colon" || p.look(1) == "colon" {
		index := 0
		for cur := p.cur(); cur != "rbracket" && index < 3; cur = p.cur() {
			switch cur {
			case "colon":
				index++
				if index == 3 {
					p.fail(p.tok(0), "syntax error")
				}
				p.advance()
			case "number":
				p.advance()
			default:
				p.fail(p.tok(0), "syntax error")
			}
		}
		p.match("rbracket")
		return "slice"
	}
	p.advance()
	p.match("rbracket")
	return "index"
}

func (p *pyParser) projectIfSlice(right string) string {
	if right == "slice" {
		p.projectionRHS(pyBindingPower["star"])
		return "projection"
	}
	return "index_expression"
}

func (p *pyParser) multiSelectList() {
	for {
		p.expression(0)
		if p.cur() == "rbracket" {
			break
		}
		p.match("comma")
	}
	p.match("rbracket")
}

func (p *pyParser) multiSelectHash() {
	for {
		p.matchAny([]string{"quoted_identifier", "unquoted_identifier"})
		p.match("colon")
		p.expression(0)
		if p.cur() == "comma" {
			p.match("comma")
		} else if p.cur() == "rbrace" {
			p.match("rbrace")
			break
		}
	}
}

func (p *pyParser) projectionRHS(bp int) {
	p.depth++
	defer func() { p.depth-- }()
	switch {
	case pyBindingPower[p.cur()] < pyProjectionStop:
	case p.cur() == "lbracket", p.cur() == "filter":
		p.expression(bp)
	case p.cur() == "dot":
		p.match("dot")
		p.dotRHS(bp)
	default:
		p.fail(p.tok(0), "syntax error")
	}
}

func (p *pyParser) dotRHS(bp int) {
	switch p.cur() {
	case "quoted_identifier", "unquoted_identifier", "star":
		p.expression(bp)
	case "lbracket":
		p.match("lbracket")
		p.multiSelectList()
	case "lbrace":
		p.match("lbrace")
		p.multiSelectHash()
	default:
		t := p.tok(0)
		p.fail(t, fmt.Sprintf("Expecting: %s, got: %s", pyList([]string{"quoted_identifier", "unquoted_identifier", "lbracket", "lbrace"}), t.typ))
	}
}

// pyLiteralText is str() of a literal's parsed JSON value, as Python's
// ParseError prints token values.
func pyLiteralText(lit string) string {
	v, err := decodeOrdered([]byte(lit), nil)
	if err != nil {
		return strings.TrimLeft(lit, " \t\n\r\f\v")
	}
	return pyValueRepr2(v)
}

func pyValueRepr2(v any) string {
	switch v.(type) {
	case []any, map[string]any:
		return pyValueRepr(v, nil)
	}
	return pyStr(v)
}
