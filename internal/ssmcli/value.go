package ssmcli

import (
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Values flowing through the output pipeline are plain Go data as
// go-jmespath expects: nil, bool, float64, string, []any and
// map[string]any, plus pyDatetime for the naive timestamps of
// --generate-cli-skeleton output. Python dicts keep insertion order and the
// CLI prints JSON in that order, so an order book remembers the key order
// of every map built from a response (model order) or a multi-select hash.

// pyDatetime is a naive datetime as botocore's stubbed output carries it.
type pyDatetime struct {
	iso string // isoformat(), used by json
	str string // str(), used by text, table and yaml
}

// orderBook maps a map's identity to its key order. Entries hold the map
// itself so that its address cannot be reused while the book lives.
type orderBook struct {
	byMap map[uintptr]orderEntry
	// hashes are the key lists of the multi-select hashes of the query,
	// used to order maps created by go-jmespath.
	hashes [][]string
}

type orderEntry struct {
	m    map[string]any
	keys []string
}

func newOrderBook() *orderBook { return &orderBook{byMap: map[uintptr]orderEntry{}} }

func mapID(m map[string]any) uintptr { return reflect.ValueOf(m).Pointer() }

func (o *orderBook) set(m map[string]any, keys []string) {
	if o != nil {
		o.byMap[mapID(m)] = orderEntry{m: m, keys: keys}
	}
}

// keys returns m's keys in insertion order when known, else sorted.
func (o *orderBook) keys(m map[string]any) []string {
	if o != nil {
		if e, ok := o.byMap[mapID(m)]; ok && sameKeys(e.keys, m) {
			return e.keys
		}
		for _, h := range o.hashes {
			if sameKeys(h, m) {
				return h
			}
		}
	}
	return sortedKeys(m)
}

func sameKeys(ks []string, m map[string]any) bool {
	if len(ks) != len(m) {
		return false
	}
	for _, k := range ks {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func isScalar(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return false
	}
	return true
}

// pyStr renders a scalar the way Python's str() does.
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		return pyNumber(x)
	case int:
		return strconv.Itoa(x)
	case string:
		return x
	case pyDatetime:
		return x.str
	}
	return ""
}

// pyNumber formats a number as Python would print the int or float the
// JSON parser produced: integral values print as ints.
func pyNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e16 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return pyFloatRepr(f)
}

// pyFloatRepr is Python's repr(float).
func pyFloatRepr(f float64) string {
	if math.IsInf(f, 1) {
		return "inf"
	}
	if math.IsInf(f, -1) {
		return "-inf"
	}
	if math.IsNaN(f) {
		return "nan"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	mant, expS, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expS)
	if exp < -4 || exp >= 16 {
		sign := "+"
		if exp < 0 {
			sign = "-"
			exp = -exp
		}
		return mant + "e" + sign + pad2(exp)
	}
	r := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(r, ".") {
		r += ".0"
	}
	return r
}

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// pyRepr renders a string as Python's repr().
func pyRepr(s string) string {
	q := byte('\'')
	if strings.Contains(s, "'") && !strings.Contains(s, "\"") {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(q):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x` + strconv.FormatInt(int64(r)+0x100, 16)[1:])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// pyTypeName is the Python class repr of a JSON-decoded value's type.
func pyTypeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "<class 'NoneType'>"
	case bool:
		return "<class 'bool'>"
	case float64:
		if x == math.Trunc(x) {
			return "<class 'int'>"
		}
		return "<class 'float'>"
	case string:
		return "<class 'str'>"
	case []any:
		return "<class 'list'>"
	case map[string]any:
		return "<class 'dict'>"
	}
	return "<class 'object'>"
}

// pyValueRepr renders a decoded value as Python's repr of the equivalent
// object (used in validation messages).
func pyValueRepr(v any, ob *orderBook) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		return pyRepr(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyValueRepr(e, ob)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		ks := ob.keys(x)
		parts := make([]string, len(ks))
		for i, k := range ks {
			parts[i] = pyRepr(k) + ": " + pyValueRepr(x[k], ob)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return pyStr(v)
}
