package awsjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Model is the part of a botocore service model (service-2.json) that a
// server needs: the operations and the shapes of their inputs, with the
// constraints that AWS validates (required, min/max, pattern, enum).
type Model struct {
	Metadata   ModelMetadata             `json:"metadata"`
	Operations map[string]ModelOperation `json:"operations"`
	Shapes     map[string]*Shape         `json:"shapes"`
}

// ModelMetadata is the service metadata of a model.
type ModelMetadata struct {
	TargetPrefix string `json:"targetPrefix"`
	JSONVersion  string `json:"jsonVersion"`
}

// ModelOperation is one operation of a model.
type ModelOperation struct {
	Name   string    `json:"name"`
	Input  *ShapeRef `json:"input"`
	Output *ShapeRef `json:"output"`
}

// ShapeRef names a shape.
type ShapeRef struct {
	Shape string `json:"shape"`
}

// Shape is one shape of a model. Min and Max bound the length of strings,
// lists and maps and the value of numbers.
type Shape struct {
	Type     string               `json:"type"`
	Required []string             `json:"required"`
	Members  map[string]*ShapeRef `json:"members"`
	Member   *ShapeRef            `json:"member"`
	Key      *ShapeRef            `json:"key"`
	Value    *ShapeRef            `json:"value"`
	Min      *float64             `json:"min"`
	Max      *float64             `json:"max"`
	Pattern  string               `json:"pattern"`
	Enum     []string             `json:"enum"`

	name    string
	match   func(string) bool // compiled Pattern
	members []string          // member names in a stable order
}

// unsupportedPatterns translates the Java patterns of the SSM model that RE2
// cannot compile (look-ahead) into equivalent predicates.
var unsupportedPatterns = map[string]func(string) bool{
	`^(?!\s*$).+`: func(s string) bool {
		return strings.TrimFunc(s, unicode.IsSpace) != "" && !strings.ContainsAny(s, "\n\r")
	},
}

// ParseModel parses a botocore service model (or a subset of one with the
// same layout) and compiles its patterns.
func ParseModel(data []byte) (*Model, error) {
	var m Model
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parse model: %w", err)
	}
	for name, s := range m.Shapes {
		s.name = name
		for k := range s.Members {
			s.members = append(s.members, k)
		}
		sort.Strings(s.members)
		if s.Pattern == "" {
			continue
		}
		if f, ok := unsupportedPatterns[s.Pattern]; ok {
			s.match = f
			continue
		}
		re, err := regexp.Compile(s.Pattern)
		if err != nil {
			return nil, fmt.Errorf("parse model: shape %s: %w", name, err)
		}
		s.match = re.MatchString
	}
	for name, op := range m.Operations {
		for _, ref := range []*ShapeRef{op.Input, op.Output} {
			if ref != nil && m.Shapes[ref.Shape] == nil {
				return nil, fmt.Errorf("parse model: operation %s: unknown shape %s", name, ref.Shape)
			}
		}
	}
	return &m, nil
}

// Violation is one failed constraint, in AWS's wording.
type Violation struct {
	Path       string // e.g. "filters.1.member.key"
	Value      string // rendered value: "'abc'" or "null"
	Constraint string // e.g. "Member must have length less than or equal to 96"
}

func (v Violation) String() string {
	return fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: %s", v.Value, v.Path, v.Constraint)
}

// ValidationError formats violations as AWS does:
// "1 validation error detected: Value 'x' at 'sessionId' failed to satisfy
// constraint: Member must have length less than or equal to 96".
func ValidationError(vs []Violation) *Error {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.String()
	}
	noun := "errors"
	if len(vs) == 1 {
		noun = "error"
	}
	return Errorf(CodeValidation, "%d validation %s detected: %s", len(vs), noun, strings.Join(parts, "; "))
}

// decodeInput parses body (a JSON object; empty means {}) and checks it
// against the operation's input shape. A malformed body or a member of the
// wrong JSON type gives SerializationException; failed constraints give
// ValidationException listing every violation.
func (m *Model) decodeInput(op string, body []byte) error {
	o, ok := m.Operations[op]
	if !ok {
		return Errorf(CodeUnknownOperation, "Operation %s is not supported.", op)
	}
	v, err := parseJSON(body)
	if err != nil {
		return err
	}
	if o.Input == nil {
		return nil
	}
	var c checker
	c.model = m
	if err := c.check(m.Shapes[o.Input.Shape], v, "", true); err != nil {
		return err
	}
	if len(c.violations) > 0 {
		return ValidationError(c.violations)
	}
	return nil
}

// parseJSON decodes one JSON value, keeping numbers exact.
func parseJSON(body []byte) (any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, Errorf(CodeSerialization, "Malformed JSON request body: %v", err)
	}
	if dec.More() {
		return nil, Errorf(CodeSerialization, "Malformed JSON request body: unexpected data after the top-level value")
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, Errorf(CodeSerialization, "Malformed JSON request body: the top-level value must be an object")
	}
	return v, nil
}

type checker struct {
	model      *Model
	violations []Violation
}

func (c *checker) add(path, value, constraint string) {
	c.violations = append(c.violations, Violation{Path: path, Value: value, Constraint: constraint})
}

// check validates v against shape s at path. It returns a SerializationException
// for type mismatches and records constraint violations in c.
func (c *checker) check(s *Shape, v any, path string, top bool) error {
	if v == nil {
		return nil // null members are treated as absent
	}
	switch s.Type {
	case "structure":
		return c.checkStructure(s, v, path)
	case "list":
		return c.checkList(s, v, path)
	case "map":
		return c.checkMap(s, v, path)
	case "string":
		str, ok := v.(string)
		if !ok {
			return typeError(path, "STRING_VALUE", v)
		}
		c.checkString(s, str, path)
	case "integer", "long":
		n, ok := v.(json.Number)
		if !ok {
			return typeError(path, "NUMBER_VALUE", v)
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || (s.Type == "integer" && (i > math.MaxInt32 || i < math.MinInt32)) {
			return Errorf(CodeSerialization, "NUMBER_VALUE %s can not be converted to an %s", n, map[string]string{"integer": "Integer", "long": "Long"}[s.Type])
		}
		c.checkRange(s, float64(i), string(n), path)
	case "double", "float":
		n, ok := v.(json.Number)
		if !ok {
			return typeError(path, "NUMBER_VALUE", v)
		}
		f, err := n.Float64()
		if err != nil {
			return Errorf(CodeSerialization, "NUMBER_VALUE %s can not be converted to a Double", n)
		}
		c.checkRange(s, f, string(n), path)
	case "boolean":
		if _, ok := v.(bool); !ok {
			return typeError(path, "BOOLEAN_VALUE", v)
		}
	case "timestamp":
		switch t := v.(type) {
		case json.Number:
		case string:
			if _, err := time.Parse(time.RFC3339Nano, t); err != nil {
				return Errorf(CodeSerialization, "Timestamp value %q at '%s' is not a valid date", t, path)
			}
		default:
			return typeError(path, "NUMBER_VALUE", v)
		}
	case "blob":
		if _, ok := v.(string); !ok {
			return typeError(path, "STRING_VALUE", v)
		}
	}
	return nil
}

func (c *checker) checkStructure(s *Shape, v any, path string) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return typeError(path, "structure", v)
	}
	for _, name := range s.members { // sorted: a stable message
		mv := obj[name]
		if mv == nil {
			if contains(s.Required, name) {
				c.add(join(path, lowerFirst(name)), "null", "Member must not be null")
			}
			continue
		}
		if err := c.check(c.model.Shapes[s.Members[name].Shape], mv, join(path, lowerFirst(name)), false); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) checkList(s *Shape, v any, path string) error {
	list, ok := v.([]any)
	if !ok {
		return typeError(path, "list", v)
	}
	c.checkLength(s, len(list), func() string { return renderValue(list) }, path)
	member := c.model.Shapes[s.Member.Shape]
	for i, e := range list {
		if err := c.check(member, e, fmt.Sprintf("%s.%d.member", path, i+1), false); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) checkMap(s *Shape, v any, path string) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return typeError(path, "map", v)
	}
	c.checkLength(s, len(obj), func() string { return renderValue(obj) }, path)
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	keyShape, valShape := c.model.Shapes[s.Key.Shape], c.model.Shapes[s.Value.Shape]
	for _, k := range keys {
		var kc checker
		kc.model = c.model
		kc.checkString(keyShape, k, path)
		for _, kv := range kc.violations {
			c.add(path, renderValue(obj), "Map keys must satisfy constraint: ["+kv.Constraint+"]")
		}
		var vc checker
		vc.model = c.model
		if err := vc.check(valShape, obj[k], path, false); err != nil {
			return err
		}
		for _, vv := range vc.violations {
			c.add(path, renderValue(obj), "Map value must satisfy constraint: ["+vv.Constraint+"]")
		}
	}
	return nil
}

func (c *checker) checkString(s *Shape, str, path string) {
	val := "'" + str + "'"
	c.checkLength(s, utf8.RuneCountInString(str), func() string { return val }, path)
	if s.match != nil && !s.match(str) {
		c.add(path, val, "Member must satisfy regular expression pattern: "+s.Pattern)
	}
	if len(s.Enum) > 0 && !contains(s.Enum, str) {
		c.add(path, val, "Member must satisfy enum value set: ["+strings.Join(s.Enum, ", ")+"]")
	}
}

func (c *checker) checkLength(s *Shape, n int, render func() string, path string) {
	if s.Min != nil && float64(n) < *s.Min {
		c.add(path, render(), fmt.Sprintf("Member must have length greater than or equal to %v", *s.Min))
	}
	if s.Max != nil && float64(n) > *s.Max {
		c.add(path, render(), fmt.Sprintf("Member must have length less than or equal to %v", *s.Max))
	}
}

func (c *checker) checkRange(s *Shape, f float64, text, path string) {
	val := "'" + text + "'"
	if s.Min != nil && f < *s.Min {
		c.add(path, val, fmt.Sprintf("Member must have value greater than or equal to %v", *s.Min))
	}
	if s.Max != nil && f > *s.Max {
		c.add(path, val, fmt.Sprintf("Member must have value less than or equal to %v", *s.Max))
	}
}

func typeError(path, want string, got any) *Error {
	where := path
	if where == "" {
		where = "the request"
	}
	switch want {
	case "structure", "map":
		return Errorf(CodeSerialization, "Start of structure or map expected at '%s', found %s", where, jsonKind(got))
	case "list":
		return Errorf(CodeSerialization, "Start of list expected at '%s', found %s", where, jsonKind(got))
	}
	return Errorf(CodeSerialization, "%s can not be converted to %s at '%s'", jsonKind(got), want, where)
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "STRING_VALUE"
	case json.Number:
		return "NUMBER_VALUE"
	case bool:
		return "BOOLEAN_VALUE"
	case []any:
		return "START_ARRAY"
	case map[string]any:
		return "START_OBJECT"
	}
	return "VALUE_NULL"
}

// renderValue renders a list or map for a violation message, quoted.
func renderValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "'?'"
	}
	return "'" + string(b) + "'"
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToLower(r)) + s[n:]
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
