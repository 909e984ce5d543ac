package ssmcli

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode/utf8"
)

// The YAML formatter reproduces ruamel.yaml's safe dumper as awscli
// configures it (block style, sorted keys, YAML 1.2 resolvers, width 80).

var yamlImplicit = []*regexp.Regexp{
	regexp.MustCompile(`^(?:true|True|TRUE|false|False|FALSE)$`),
	regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)|[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`),
	regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?[0-9_]+|[-+]?0x[0-9a-fA-F_]+)$`),
	regexp.MustCompile(`^(?:<<)$`),
	regexp.MustCompile(`^(?:~|null|Null|NULL|)$`),
	regexp.MustCompile(`^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$`),
	regexp.MustCompile(`^(?:=)$`),
	regexp.MustCompile(`^(?:!|&|\*)$`),
}

func yamlResolvesToOther(s string) bool {
	for _, re := range yamlImplicit {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

type scalarAnalysis struct {
	empty, multiline                         bool
	allowFlowPlain, allowBlockPlain, allowSQ bool
}

func isBreakOrSpaceZ(r rune) bool {
	return strings.ContainsRune("\x00 \t\r\n\u0085\u2028\u2029", r)
}

// analyzeScalar is the emitter's analyze_scalar.
func analyzeScalar(s string) scalarAnalysis {
	if s == "" {
		return scalarAnalysis{empty: true, allowSQ: true}
	}
	rs := []rune(s)
	var blockInd, flowInd, lineBreaks, special bool
	var leadingSpace, leadingBreak, trailingSpace, trailingBreak, breakSpace, spaceBreak bool
	if strings.HasPrefix(s, "---") || strings.HasPrefix(s, "...") {
		blockInd, flowInd = true, true
	}
	preceded := true
	followed := len(rs) == 1 || isBreakOrSpaceZ(rs[1])
	prevSpace, prevBreak := false, false
	for i, ch := range rs {
		if i == 0 {
			if strings.ContainsRune("#,[]{}&*!|>'\"%@`", ch) {
				flowInd, blockInd = true, true
			}
			if ch == '?' || ch == ':' {
				flowInd = true
				if followed {
					blockInd = true
				}
			}
			if ch == '-' && followed {
				flowInd, blockInd = true, true
			}
		} else {
			if strings.ContainsRune(",?[]{}", ch) {
				flowInd = true
			}
			if ch == ':' {
				flowInd = true
				if followed {
					blockInd = true
				}
			}
			if ch == '#' && preceded {
				flowInd, blockInd = true, true
			}
		}
		isBreak := ch == '\n' || ch == '\u0085' || ch == '\u2028' || ch == '\u2029'
		if isBreak {
			lineBreaks = true
		}
		if !(ch == '\n' || (ch >= 0x20 && ch <= 0x7e)) {
			if (ch == 0x85 || (ch >= 0xa0 && ch <= 0xd7ff) || (ch >= 0xe000 && ch <= 0xfffd) || (ch >= 0x10000 && ch < 0x10ffff)) && ch != 0xfeff {
				// unicode allowed
			} else {
				special = true
			}
		}
		switch {
		case ch == ' ':
			if i == 0 {
				leadingSpace = true
			}
			if i == len(rs)-1 {
				trailingSpace = true
			}
			if prevBreak {
				breakSpace = true
			}
			prevSpace, prevBreak = true, false
		case isBreak:
			if i == 0 {
				leadingBreak = true
			}
			if i == len(rs)-1 {
				trailingBreak = true
			}
			if prevSpace {
				spaceBreak = true
			}
			prevSpace, prevBreak = false, true
		default:
			prevSpace, prevBreak = false, false
		}
		preceded = isBreakOrSpaceZ(ch)
		followed = i+2 >= len(rs) || isBreakOrSpaceZ(rs[i+2])
	}
	_ = spaceBreak
	a := scalarAnalysis{multiline: lineBreaks, allowFlowPlain: true, allowBlockPlain: true, allowSQ: true}
	if leadingSpace || leadingBreak || trailingSpace || trailingBreak {
		a.allowFlowPlain, a.allowBlockPlain = false, false
	}
	if breakSpace {
		a.allowFlowPlain, a.allowBlockPlain, a.allowSQ = false, false, false
	}
	if special {
		a.allowFlowPlain, a.allowBlockPlain, a.allowSQ = false, false, false
	}
	if lineBreaks {
		a.allowFlowPlain, a.allowBlockPlain = false, false
	}
	if flowInd {
		a.allowFlowPlain = false
	}
	if blockInd {
		a.allowBlockPlain = false
	}
	return a
}

// yamlEmitter tracks the output column for line folding.
type yamlEmitter struct {
	b          *strings.Builder
	column     int
	whitespace bool
	indention  bool
	indent     int
}

const yamlWidth = 80

func (e *yamlEmitter) write(s string) {
	e.b.WriteString(s)
	e.column += utf8.RuneCountInString(s)
}

func (e *yamlEmitter) lineBreak() {
	e.b.WriteString("\n")
	e.whitespace, e.indention = true, true
	e.column = 0
}

func (e *yamlEmitter) writeIndent() {
	if !e.indention || e.column > e.indent || (e.column == e.indent && !e.whitespace) {
		e.lineBreak()
	}
	if e.column < e.indent {
		e.whitespace = true
		e.write(strings.Repeat(" ", e.indent-e.column))
	}
}

func (e *yamlEmitter) indicator(ind string, needWS, whitespace, indention bool) {
	if e.whitespace || !needWS {
		e.write(ind)
	} else {
		e.write(" " + ind)
	}
	e.whitespace = whitespace
	e.indention = e.indention && indention
}

// scalar writes a string scalar choosing plain, single- or double-quoted
// style as the emitter would.
func (e *yamlEmitter) scalar(s string, simpleKey bool) {
	a := analyzeScalar(s)
	implicit := !yamlResolvesToOther(s)
	if implicit && !(simpleKey && (a.empty || a.multiline)) && a.allowBlockPlain {
		e.writePlain(s)
		return
	}
	if a.allowSQ && !(simpleKey && a.multiline) {
		e.writeSingleQuoted(s)
		return
	}
	e.writeDoubleQuoted(s)
}

func (e *yamlEmitter) rawScalar(s string) {
	if !e.whitespace {
		e.write(" ")
	}
	e.write(s)
	e.whitespace, e.indention = false, false
}

func isLineBreak(r rune) bool { return r == '\n' || r == 0x85 || r == 0x2028 || r == 0x2029 }

func (e *yamlEmitter) writeLineBreaks(rs []rune) {
	if rs[0] == '\n' {
		e.lineBreak()
	}
	for _, br := range rs {
		if br == '\n' {
			e.lineBreak()
		} else {
			e.b.WriteRune(br)
			e.whitespace, e.indention = true, true
			e.column = 0
		}
	}
}

func (e *yamlEmitter) writePlain(s string) {
	if s == "" {
		return
	}
	if !e.whitespace {
		e.write(" ")
	}
	e.whitespace, e.indention = false, false
	rs := []rune(s)
	spaces, breaks := false, false
	start := 0
	for end := 0; end <= len(rs); end++ {
		var ch rune = -1
		if end < len(rs) {
			ch = rs[end]
		}
		switch {
		case spaces:
			if ch != ' ' {
				if start+1 == end && e.column > yamlWidth {
					e.writeIndent()
					e.whitespace, e.indention = false, false
				} else {
					e.write(string(rs[start:end]))
				}
				start = end
			}
		case breaks:
			if !isLineBreak(ch) {
				e.writeLineBreaks(rs[start:end])
				e.writeIndent()
				e.whitespace, e.indention = false, false
				start = end
			}
		default:
			if ch == -1 || ch == ' ' || isLineBreak(ch) {
				e.write(string(rs[start:end]))
				start = end
			}
		}
		if ch != -1 {
			spaces = ch == ' '
			breaks = isLineBreak(ch)
		}
	}
}

func (e *yamlEmitter) writeSingleQuoted(s string) {
	e.indicator("'", true, false, false)
	rs := []rune(s)
	spaces, breaks := false, false
	start := 0
	for end := 0; end <= len(rs); end++ {
		var ch rune = -1
		if end < len(rs) {
			ch = rs[end]
		}
		switch {
		case spaces:
			if ch == -1 || ch != ' ' {
				if start+1 == end && e.column > yamlWidth && start != 0 && end != len(rs) {
					e.writeIndent()
				} else {
					e.write(string(rs[start:end]))
				}
				start = end
			}
		case breaks:
			if ch == -1 || !isLineBreak(ch) {
				e.writeLineBreaks(rs[start:end])
				e.writeIndent()
				start = end
			}
		default:
			if ch == -1 || ch == ' ' || isLineBreak(ch) || ch == '\'' {
				if start < end {
					e.write(string(rs[start:end]))
					start = end
				}
			}
		}
		if ch == '\'' {
			e.write("''")
			start = end + 1
		}
		if ch != -1 {
			spaces = ch == ' '
			breaks = isLineBreak(ch)
		}
	}
	e.indicator("'", false, false, false)
}

var yamlEscapes = map[rune]string{
	0: "0", 7: "a", 8: "b", 9: "t", 10: "n", 11: "v", 12: "f", 13: "r", 27: "e",
	'"': "\"", '\\': "\\", 0x85: "N", 0xa0: "_", 0x2028: "L", 0x2029: "P",
}

func (e *yamlEmitter) writeDoubleQuoted(s string) {
	e.indicator("\"", true, false, false)
	var b strings.Builder
	for _, ch := range s {
		if esc, ok := yamlEscapes[ch]; ok {
			b.WriteString("\\" + esc)
			continue
		}
		switch {
		case ch >= 0x20 && ch <= 0x7e, ch >= 0xa0 && ch <= 0xd7ff, ch >= 0xe000 && ch <= 0xfffd && ch != 0xfeff, ch >= 0x10000 && ch < 0x10ffff:
			b.WriteRune(ch)
		case ch <= 0xff:
			fmt.Fprintf(&b, "\\x%02X", ch)
		case ch <= 0xffff:
			fmt.Fprintf(&b, "\\u%04X", ch)
		default:
			fmt.Fprintf(&b, "\\U%08X", ch)
		}
	}
	e.write(b.String())
	e.indicator("\"", false, false, false)
}

// yamlScalarText renders non-string scalars.
func yamlScalarText(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "null", true
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e16 {
			return pyNumber(x), true
		}
		switch {
		case math.IsInf(x, 1):
			return ".inf", true
		case math.IsInf(x, -1):
			return "-.inf", true
		case math.IsNaN(x):
			return ".nan", true
		}
		return strings.ToLower(pyFloatRepr(x)), true
	case pyDatetime:
		return x.str, true
	}
	return "", false
}

func (e *yamlEmitter) node(v any, indent int, mappingCtx bool) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			e.rawScalar("{}")
			return
		}
		e.blockMapping(x, indent)
	case []any:
		if len(x) == 0 {
			e.rawScalar("[]")
			return
		}
		seqIndent := indent
		if !(mappingCtx && !e.indention) {
			seqIndent = indent
		}
		e.blockSequence(x, seqIndent)
	case string:
		prev := e.indent
		e.indent = indent + 2
		e.scalar(x, false)
		e.indent = prev
	default:
		s, _ := yamlScalarText(v)
		e.rawScalar(s)
	}
}

func (e *yamlEmitter) blockMapping(m map[string]any, indent int) {
	for _, k := range sortedKeys(m) {
		e.indent = indent
		e.writeIndent()
		e.scalar(k, true)
		e.indicator(":", false, false, false)
		v := m[k]
		switch x := v.(type) {
		case map[string]any:
			if len(x) > 0 {
				e.blockMapping(x, indent+2)
				continue
			}
		case []any:
			if len(x) > 0 {
				e.blockSequence(x, indent)
				continue
			}
		}
		e.node(v, indent, true)
	}
}

func (e *yamlEmitter) blockSequence(l []any, indent int) {
	for _, item := range l {
		e.indent = indent
		e.writeIndent()
		e.indicator("-", true, false, true)
		switch x := item.(type) {
		case map[string]any:
			if len(x) > 0 {
				e.blockMapping(x, indent+2)
				continue
			}
		case []any:
			if len(x) > 0 {
				e.blockSequence(x, indent+2)
				continue
			}
		}
		e.node(item, indent, false)
	}
}

// formatYAML renders v as awscli's yaml output. Scalars are dumped as
// JSON, as awscli's YAMLDumper does.
func formatYAML(b *strings.Builder, v any, ob *orderBook) {
	switch v.(type) {
	case map[string]any, []any:
		e := &yamlEmitter{b: b, whitespace: true, indention: true}
		e.node(v, 0, false)
		b.WriteString("\n")
	default:
		b.WriteString(jsonWriter{ob: ob}.encode(v))
		b.WriteString("\n")
	}
}
