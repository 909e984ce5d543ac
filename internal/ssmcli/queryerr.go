package ssmcli

import (
	"fmt"
	"strings"

	"github.com/jmespath/go-jmespath"
)

// pySignatures are the argument types of Python jmespath's functions;
// a trailing "..." marks a variadic function.
var pySignatures = map[string][]string{
	"abs": {"number"}, "avg": {"array-number"}, "not_null": {"", "..."}, "to_array": {""},
	"to_string": {""}, "to_number": {""}, "contains": {"array|string", ""}, "length": {"string|array|object"},
	"ends_with": {"string", "string"}, "starts_with": {"string", "string"}, "reverse": {"array|string"},
	"ceil": {"number"}, "floor": {"number"}, "join": {"string", "array-string"}, "map": {"expref", "array"},
	"max": {"array-number|array-string"}, "merge": {"object", "..."}, "min": {"array-number|array-string"},
	"sort": {"array-string|array-number"}, "sum": {"array-number"}, "keys": {"object"}, "values": {"object"},
	"type": {""}, "sort_by": {"array", "expref"}, "min_by": {"array", "expref"}, "max_by": {"array", "expref"},
}

// queryRuntimeError renders a query evaluation error as Python's jmespath
// reports it (awscli exits 255 with the message).
func queryRuntimeError(expr string, data any, err error, ob *orderBook) error {
	p := &pyParser{src: expr}
	if toks, lerr := pyLex(expr); lerr == nil {
		p.toks = toks
		_ = p.parse()
	}
	msg := err.Error()
	for _, c := range p.calls {
		sig, known := pySignatures[c.name]
		if !known {
			return &generalError{fmt.Sprintf("Unknown function: %s()", c.name)}
		}
		variadic := len(sig) > 0 && sig[len(sig)-1] == "..."
		want := len(sig)
		if variadic {
			want--
			if len(c.args) < want {
				return &generalError{fmt.Sprintf("Expected at least %d %s for function %s(), received %d", want, pluralArg(want), c.name, len(c.args))}
			}
		} else if len(c.args) != want {
			return &generalError{fmt.Sprintf("Expected %d %s for function %s(), received %d", want, pluralArg(want), c.name, len(c.args))}
		}
	}
	for _, c := range p.calls {
		if !c.topLevel {
			continue
		}
		sig := pySignatures[c.name]
		for i, a := range c.args {
			if i >= len(sig) || sig[i] == "" || sig[i] == "expref" || sig[i] == "..." {
				continue
			}
			v, e := jmespath.Search(legacyLiterals(a), data)
			if e != nil {
				continue
			}
			if bad, badType, ok := pyTypeCheck(v, sig[i]); !ok {
				return &generalError{fmt.Sprintf("In function %s(), invalid type for value: %s, expected one of: %s, received: \"%s\"",
					c.name, pyValueRepr2Ordered(bad, ob), pyList(strings.Split(sig[i], "|")), badType)}
			}
		}
	}
	if strings.HasPrefix(msg, "unknown function: ") {
		return &generalError{fmt.Sprintf("Unknown function: %s()", strings.TrimPrefix(msg, "unknown function: "))}
	}
	return &generalError{msg}
}

func pluralArg(n int) string {
	if n == 1 {
		return "argument"
	}
	return "arguments"
}

func pyValueRepr2Ordered(v any, ob *orderBook) string {
	switch v.(type) {
	case []any, map[string]any:
		return pyValueRepr(v, ob)
	}
	return pyStr(v)
}

func jpType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64, int:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "null"
}

// pyTypeCheck is _type_check_single: it returns the offending value and
// its type when v does not match the allowed types.
func pyTypeCheck(v any, allowed string) (any, string, bool) {
	types := strings.Split(allowed, "|")
	var subtypes []string
	top := false
	for _, t := range types {
		base, sub, hasSub := strings.Cut(t, "-")
		if base == jpType(v) {
			top = true
		}
		if hasSub {
			subtypes = append(subtypes, sub)
		}
	}
	if !top {
		return v, jpType(v), false
	}
	l, ok := v.([]any)
	if !ok || len(subtypes) == 0 || len(l) == 0 {
		return nil, "", true
	}
	want := ""
	for _, st := range subtypes {
		if jpType(l[0]) == st {
			want = st
			break
		}
	}
	// Element failures name the Python type (a quirk of _subtype_check).
	if want == "" {
		return l[0], pyTypeShort(l[0]), false
	}
	for _, e := range l {
		if jpType(e) != want {
			return e, pyTypeShort(e), false
		}
	}
	return nil, "", true
}

func pyTypeShort(v any) string {
	n := strings.TrimSuffix(strings.TrimPrefix(pyTypeName(v), "<class '"), "'>")
	return n
}
