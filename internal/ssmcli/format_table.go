package ssmcli

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// The table formatter is a port of awscli/table.py and the
// TableFormatter of awscli/formatter.py.

func runeWidth(r rune) int {
	i := sort.Search(len(wideRanges), func(i int) bool { return wideRanges[i][1] >= r })
	if i < len(wideRanges) && wideRanges[i][0] <= r {
		return 2
	}
	return 1
}

// textLength is awscli's get_text_length.
func textLength(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

const (
	ansiReset = "\x1b[0m"
	ansiBlue  = "\x1b[1m\x1b[34m"
	ansiDimY  = "\x1b[2m\x1b[33m"
)

type styler struct{ color bool }

func (s styler) row(t string) string {
	if s.color {
		return ansiBlue + t + ansiReset
	}
	return t
}

func (s styler) indent(t string) string {
	if s.color {
		return ansiDimY + t + ansiReset
	}
	return t
}

type section struct {
	title     string
	headers   []string
	rows      [][]string
	indent    int
	numCols   int
	maxWidths []int
}

func (s *section) addHeader(h []string) {
	s.updateWidths(h)
	if s.numCols == 0 {
		s.numCols = len(h)
	}
	s.headers = h
}

func (s *section) addRow(r []string) error {
	if s.numCols == 0 {
		s.numCols = len(r)
	}
	if len(r) != s.numCols {
		return fmt.Errorf("Row should have %d elements, instead it has %d", s.numCols, len(r))
	}
	s.rows = append(s.rows, r)
	s.updateWidths(r)
	return nil
}

func (s *section) updateWidths(r []string) {
	if len(s.maxWidths) == 0 {
		for _, e := range r {
			s.maxWidths = append(s.maxWidths, textLength(e))
		}
		return
	}
	for i, e := range r {
		if i < len(s.maxWidths) {
			s.maxWidths[i] = max(s.maxWidths[i], textLength(e))
		}
	}
}

func pyRound(x float64) int { return int(math.RoundToEven(x)) }

func (s *section) columnWidths(padding int, maxWidth int) []int {
	un := make([]int, len(s.maxWidths))
	sum := 0
	for i, w := range s.maxWidths {
		un[i] = w + padding
		sum += un[i]
	}
	if maxWidth < 0 || len(un) == 0 {
		return un
	}
	scale := float64(maxWidth) / float64(sum)
	scaled := make([]int, len(un))
	total := 0
	for i, w := range un {
		scaled[i] = pyRound(scale * float64(w))
		total += scaled[i]
	}
	off := total - maxWidth
	for off != 0 {
		n := len(scaled)
		for k := 0; k < n; k++ {
			i := k
			if off < 0 {
				i = n - 1 - k
			}
			if off > 0 {
				scaled[i]--
				off--
			} else {
				scaled[i]++
				off++
			}
			if off == 0 {
				break
			}
		}
	}
	return scaled
}

func (s *section) totalWidth(padding int, outer int) int {
	total := 0
	for _, w := range s.columnWidths(0, -1) {
		total += w + padding
	}
	total += 2 + 2*outer
	return max(textLength(s.title)+2+2*outer, total)
}

type multiTable struct {
	sections []*section
	cur      *section
	width    int
	style    styler
}

func (t *multiTable) newSection(title string, indent int) {
	t.cur = &section{title: title, indent: indent}
	t.sections = append(t.sections, t.cur)
}

func (t *multiTable) maxWidth() int {
	m := 0
	for _, s := range t.sections {
		m = max(m, s.totalWidth(4, s.indent))
	}
	return m
}

func (t *multiTable) render(b *strings.Builder) {
	mw := t.maxWidth()
	if mw > t.width {
		for i, s := range t.sections {
			if len(s.rows) == 1 && len(s.headers) > 0 {
				ns := &section{title: s.title, indent: s.indent}
				for j, h := range s.headers {
					if j < len(s.rows[0]) {
						_ = ns.addRow([]string{h, s.rows[0][j]})
					}
				}
				t.sections[i] = ns
			}
		}
		mw = t.maxWidth()
	}
	e := emitter{b: b, color: t.style.color}
	e.write(strings.Repeat("-", mw) + "\n")
	for _, s := range t.sections {
		t.renderSection(e, s, mw)
	}
}

// emitter writes to the output stream; with colour on, colorama's
// autoreset appends a reset sequence after every write call.
type emitter struct {
	b     *strings.Builder
	color bool
}

func (e emitter) write(s string) {
	e.b.WriteString(s)
	if e.color {
		e.b.WriteString(ansiReset)
	}
}

// indentedWriter is IndentedStream: each written line is wrapped in the
// section's indentation characters.
type indentedWriter struct {
	e     emitter
	level int
	char  string
}

func (w indentedWriter) write(text string) {
	w.e.write(strings.Repeat(w.char, w.level))
	if strings.HasSuffix(text, "\n") {
		w.e.write(text[:len(text)-1])
		w.e.write(strings.Repeat(w.char, w.level))
		w.e.write("\n")
		return
	}
	w.e.write(text)
}

func (t *multiTable) renderSection(e emitter, s *section, maxWidth int) {
	w := indentedWriter{e: e, level: s.indent, char: t.style.indent("|")}
	maxWidth -= s.indent * 2
	if s.title != "" {
		w.write(centerText(s.title, maxWidth, "|", "|", textLength(s.title)) + "\n")
		if len(s.headers) == 0 && len(s.rows) == 0 {
			w.write("+" + strings.Repeat("-", maxWidth-2) + "+" + "\n")
		}
	}
	if len(s.headers) > 0 {
		widths := s.columnWidths(4, maxWidth)
		var cur strings.Builder
		for i, h := range s.headers {
			if i >= len(widths) {
				break
			}
			left := ""
			if i == 0 {
				left = "|"
			}
			cur.WriteString(centerText(h, widths[i], left, "|", textLength(h)))
		}
		writeLineBreak(w, widths)
		w.write(cur.String() + "\n")
	}
	if len(s.rows) == 0 {
		return
	}
	widths := s.columnWidths(4, maxWidth)
	if len(widths) == 0 {
		return
	}
	writeLineBreak(w, widths)
	for _, row := range s.rows {
		var cur strings.Builder
		for i, e := range row {
			if i >= len(widths) {
				break
			}
			left := ""
			if i == 0 {
				left = "|"
			}
			cur.WriteString(alignLeft(t.style.row(e), widths[i], left, "|", textLength(e)))
		}
		w.write(cur.String() + "\n")
	}
	writeLineBreak(w, widths)
}

func writeLineBreak(w indentedWriter, widths []int) {
	var b strings.Builder
	for i, width := range widths {
		if i == 0 {
			b.WriteString("+" + strings.Repeat("-", max(width-2, 0)) + "+")
		} else {
			b.WriteString(strings.Repeat("-", max(width-1, 0)) + "+")
		}
	}
	b.WriteString("\n")
	w.write(b.String())
}

func pyFloorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func centerText(text string, length int, left, right string, textLen int) string {
	charStart := pyFloorDiv(length, 2) - pyFloorDiv(textLen, 2) - 1
	out := left + strings.Repeat(" ", max(charStart, 0)) + text
	soFar := textLength(left) + charStart + textLen
	rightSpaces := length - textLength(right) - soFar
	return out + strings.Repeat(" ", max(rightSpaces, 0)) + right
}

func alignLeft(text string, length int, left, right string, textLen int) string {
	computed := textLen + 2 + textLength(left) + textLength(right)
	padding := 2
	if length-computed < 0 {
		padding = 0
	}
	soFar := len(left) + padding + textLen
	return left + strings.Repeat(" ", padding) + text + strings.Repeat(" ", max(length-soFar-len(right), 0)) + right
}

// tableBuilder is awscli's TableFormatter._build_table. The first row
// error (a row of a different width) aborts the output, as in awscli.
type tableBuilder struct {
	t   *multiTable
	err *error
}

func (tb tableBuilder) build(title string, hasTitle bool, cur any, indent int) bool {
	if isFalsy(cur) {
		return false
	}
	if hasTitle {
		tb.t.newSection(title, indent)
	}
	switch x := cur.(type) {
	case []any:
		if _, ok := x[0].(map[string]any); ok {
			tb.subTableFromList(x, indent, title)
		} else {
			for _, item := range x {
				if isScalar(item) {
					tb.addRow([]string{pyStr(item)})
				} else if l, ok := item.([]any); ok && allScalar(l) {
					row := make([]string, len(l))
					for i, e := range l {
						row[i] = pyStr(e)
					}
					tb.addRow(row)
				} else {
					tb.build("", false, item, 0)
				}
			}
		}
	case map[string]any:
		tb.subTableFromDict(x, indent)
	}
	return true
}

func (tb tableBuilder) addRow(r []string) {
	if tb.t.cur == nil {
		tb.t.newSection("", 0)
	}
	if err := tb.t.cur.addRow(r); err != nil && *tb.err == nil {
		*tb.err = err
	}
}

func allScalar(l []any) bool {
	for _, e := range l {
		if !isScalar(e) {
			return false
		}
	}
	return true
}

func isFalsy(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case float64:
		return x == 0
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func groupScalarKeys(m map[string]any) (headers, more []string) {
	for _, k := range sortedKeys(m) {
		if isScalar(m[k]) {
			headers = append(headers, k)
		} else {
			more = append(more, k)
		}
	}
	return headers, more
}

func (tb tableBuilder) subTableFromDict(cur map[string]any, indent int) {
	headers, more := groupScalarKeys(cur)
	if len(headers) == 1 {
		tb.addRow([]string{headers[0], pyStr(cur[headers[0]])})
	} else if len(headers) > 0 {
		tb.t.cur.addHeader(headers)
		row := make([]string, len(headers))
		for i, h := range headers {
			row[i] = pyStr(cur[h])
		}
		tb.addRow(row)
	}
	for _, k := range more {
		tb.build(k, true, cur[k], indent+1)
	}
}

func (tb tableBuilder) subTableFromList(cur []any, indent int, title string) {
	hs, ms := map[string]bool{}, map[string]bool{}
	for _, e := range cur {
		if m, ok := e.(map[string]any); ok {
			h, mo := groupScalarKeys(m)
			for _, k := range h {
				hs[k] = true
			}
			for _, k := range mo {
				ms[k] = true
			}
		}
	}
	headers, more := setKeys(hs), setKeys(ms)
	tb.t.cur.addHeader(headers)
	for i, e := range cur {
		m, _ := e.(map[string]any)
		if i > 0 && len(more) > 0 {
			tb.t.newSection(title, indent)
			tb.t.cur.addHeader(headers)
		}
		row := make([]string, len(headers))
		for j, h := range headers {
			if v, ok := m[h]; ok {
				row[j] = pyStr(v)
			}
		}
		tb.addRow(row)
		for _, k := range more {
			if v, ok := m[k]; ok {
				tb.build(k, true, v, indent+1)
			}
		}
	}
}

func setKeys(s map[string]bool) []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// formatTable renders v as awscli's table output; ok is false when there
// is nothing to print.
func formatTable(b *strings.Builder, title string, v any, width int, color bool) error {
	t := &multiTable{width: width, style: styler{color: color}}
	var err error
	if !(tableBuilder{t: t, err: &err}).build(title, true, v, 0) {
		return nil
	}
	if err != nil {
		return &generalError{err.Error()}
	}
	t.render(b)
	return nil
}
