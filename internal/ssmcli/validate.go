package ssmcli

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// validateParams is botocore's ParamValidator: required members, types,
// minimum lengths and minimum values only (maxima, patterns and enums are
// left to the server, as the real CLI does).
func validateParams(params map[string]any, s *Shape, ob *orderBook) error {
	v := &validator{ob: ob}
	v.validate(params, s, "")
	if len(v.errs) == 0 {
		return nil
	}
	return &validationError{"Parameter validation failed:\n" + strings.Join(v.errs, "\n")}
}

type validator struct {
	ob   *orderBook
	errs []string
}

func displayName(name string) string {
	if name == "" {
		return "input"
	}
	return strings.TrimPrefix(name, ".")
}

func (v *validator) str(x any) string {
	switch x.(type) {
	case []any, map[string]any:
		return pyValueRepr(x, v.ob)
	}
	return pyStr(x)
}

func (v *validator) invalidType(name string, x any, valid ...string) {
	v.errs = append(v.errs, fmt.Sprintf("Invalid type for parameter %s, value: %s, type: %s, valid types: %s",
		displayName(name), v.str(x), pyTypeName(x), strings.Join(valid, ", ")))
}

func (v *validator) validate(x any, s *Shape, name string) {
	switch s.Type {
	case "structure":
		m, ok := x.(map[string]any)
		if !ok {
			v.invalidType(name, x, "<class 'dict'>")
			return
		}
		for _, r := range s.Required {
			if _, ok := m[r]; !ok {
				v.errs = append(v.errs, fmt.Sprintf("Missing required parameter in %s: \"%s\"", displayName(name), r))
			}
		}
		var known []string
		for _, k := range v.ob.keys(m) {
			if s.member(k) == nil {
				names := make([]string, len(s.Members))
				for i, mem := range s.Members {
					names[i] = mem.Name
				}
				v.errs = append(v.errs, fmt.Sprintf("Unknown parameter in %s: \"%s\", must be one of: %s", displayName(name), k, strings.Join(names, ", ")))
			} else {
				known = append(known, k)
			}
		}
		for _, k := range known {
			v.validate(m[k], s.member(k).Shape, name+"."+k)
		}
	case "string":
		str, ok := x.(string)
		if !ok {
			v.invalidType(name, x, "<class 'str'>")
			return
		}
		v.minCheck(name, float64(utf8.RuneCountInString(str)), s, "length")
	case "list":
		l, ok := x.([]any)
		if !ok {
			v.invalidType(name, x, "<class 'list'>", "<class 'tuple'>")
			return
		}
		v.minCheck(name, float64(len(l)), s, "length")
		for i, e := range l {
			v.validate(e, s.Member, fmt.Sprintf("%s[%d]", name, i))
		}
	case "map":
		m, ok := x.(map[string]any)
		if !ok {
			v.invalidType(name, x, "<class 'dict'>")
			return
		}
		for _, k := range v.ob.keys(m) {
			v.validate(k, s.Key, fmt.Sprintf("%s (key: %s)", name, k))
			v.validate(m[k], s.Value, name+"."+k)
		}
	case "integer", "long":
		switch n := x.(type) {
		case float64:
			if n != math.Trunc(n) {
				v.invalidType(name, x, "<class 'int'>")
				return
			}
			v.minCheck(name, n, s, "value")
		case bool:
		default:
			v.invalidType(name, x, "<class 'int'>")
		}
	case "boolean":
		if _, ok := x.(bool); !ok {
			v.invalidType(name, x, "<class 'bool'>")
		}
	case "timestamp":
		ok := false
		switch t := x.(type) {
		case float64, pyDatetime:
			ok = true
		case string:
			_, err := parseTimestampInput(t)
			ok = err == nil
		}
		if !ok {
			v.invalidType(name, x, "<class 'datetime.datetime'>", "timestamp-string")
		}
	}
}

func (v *validator) minCheck(name string, n float64, s *Shape, what string) {
	if s.Min == nil || n >= *s.Min {
		return
	}
	if what == "length" {
		v.errs = append(v.errs, fmt.Sprintf("Invalid length for parameter %s, value: %s, valid min length: %s", displayName(name), pyNumber(n), pyNumber(*s.Min)))
		return
	}
	v.errs = append(v.errs, fmt.Sprintf("Invalid value for parameter %s, value: %s, valid min value: %s", displayName(name), pyNumber(n), pyNumber(*s.Min)))
}

// serializeParams converts validated params to the wire form: timestamps
// become epoch seconds (botocore's unixtimestamp, fraction dropped).
func serializeParams(x any, s *Shape) any {
	switch s.Type {
	case "structure":
		m, ok := x.(map[string]any)
		if !ok {
			return x
		}
		for k, e := range m {
			if mem := s.member(k); mem != nil {
				m[k] = serializeParams(e, mem.Shape)
			}
		}
	case "list":
		if l, ok := x.([]any); ok {
			for i := range l {
				l[i] = serializeParams(l[i], s.Member)
			}
		}
	case "map":
		if m, ok := x.(map[string]any); ok {
			for k, e := range m {
				m[k] = serializeParams(e, s.Value)
			}
		}
	case "timestamp":
		switch t := x.(type) {
		case string:
			if tm, err := parseTimestampInput(t); err == nil {
				return float64(tm.Unix())
			}
		case float64:
			return math.Floor(t)
		}
	}
	return x
}
