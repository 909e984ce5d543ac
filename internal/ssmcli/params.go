package ssmcli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// paramError is awscli's ParamError: "Error parsing parameter '<name>': <msg>".
type paramError struct{ name, msg string }

func (e *paramError) Error() string {
	return fmt.Sprintf("Error parsing parameter '%s': %s", e.name, e.msg)
}

// validationError is a client-side error reported verbatim (exit 252).
type validationError struct{ msg string }

func (e *validationError) Error() string { return e.msg }

// loadParamFile resolves file:// and fileb:// prefixes.
func loadParamFile(value string) (string, bool, error) {
	for _, prefix := range []string{"file://", "fileb://"} {
		if strings.HasPrefix(value, prefix) {
			path := expandUser(value[len(prefix):])
			b, err := os.ReadFile(path)
			if err != nil {
				return "", true, fmt.Errorf("Unable to load paramfile %s: %s", value, pyOSError(err, path))
			}
			return string(b), true, nil
		}
	}
	return value, false, nil
}

func expandUser(p string) string {
	if strings.HasPrefix(p, "~/") {
		if h, err := os.UserHomeDir(); err == nil {
			return h + p[1:]
		}
	}
	return p
}

// pyOSError renders an OS error like Python's OSError str().
func pyOSError(err error, path string) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Sprintf("[Errno 2] No such file or directory: %s", pyRepr(path))
	case errors.Is(err, os.ErrPermission):
		return fmt.Sprintf("[Errno 13] Permission denied: %s", pyRepr(path))
	}
	var pe *os.PathError
	if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "is a directory") {
		return fmt.Sprintf("[Errno 21] Is a directory: %s", pyRepr(path))
	}
	return err.Error()
}

// buildParams turns the parsed operation options into call parameters in
// argument-table (model) order.
func buildParams(op *Operation, specs []*optSpec, parsed *parsedOpts, ob *orderBook) (map[string]any, error) {
	params := map[string]any{}
	var keys []string
	for _, spec := range specs {
		if spec.member == nil || spec.dest != spec.name {
			continue
		}
		raw, ok := parsed.values[spec.dest]
		if !ok {
			continue
		}
		v, err := unpackOption(spec, raw, ob)
		if err != nil {
			return nil, err
		}
		params[spec.member.Name] = v
		keys = append(keys, spec.member.Name)
	}
	ob.set(params, keys)
	return params, nil
}

// unpackOption converts the raw strings of one option into a value.
func unpackOption(spec *optSpec, raw []string, ob *orderBook) (any, error) {
	s := spec.member.Shape
	if spec.kind == optFlag {
		return raw[0] == "true", nil
	}
	vals := make([]string, len(raw))
	for i, r := range raw {
		if spec.kind == optList && len(raw) > 1 {
			vals[i] = r
			continue
		}
		v, _, err := loadParamFile(r)
		if err != nil {
			return nil, &paramError{spec.name, err.Error()}
		}
		vals[i] = v
	}
	if s.Type == "list" {
		return unpackList(spec.name, s, vals, ob)
	}
	return unpackValue(spec.name, s, vals[0], ob)
}

func looksLikeJSON(v string, open byte) bool {
	t := strings.TrimLeft(v, " \t\n\r\v\f")
	return t != "" && t[0] == open
}

func unpackValue(name string, s *Shape, v string, ob *orderBook) (any, error) {
	switch s.Type {
	case "structure", "map":
		if looksLikeJSON(v, '{') {
			return unpackJSON(name, v, ob)
		}
		if v == "" {
			return nil, &paramError{name, "Invalid JSON:\n"}
		}
		m, err := parseShorthand(v, ob)
		if err != nil {
			return nil, &paramError{name, err.Error()}
		}
		return backCompat(m, s)
	case "integer", "long":
		n, err := pyInt(v)
		if err != nil {
			return nil, &generalError{err.Error()} // a bare ValueError in awscli: exit 255
		}
		return float64(n), nil
	case "double", "float":
		return backCompat(v, s)
	case "boolean":
		return !strings.EqualFold(v, "false") && v != "", nil
	}
	return v, nil
}

func unpackList(name string, s *Shape, vals []string, ob *orderBook) (any, error) {
	if len(vals) == 1 && looksLikeJSON(vals[0], '[') {
		return unpackJSON(name, vals[0], ob)
	}
	complexMember := s.Member.Type == "structure" || s.Member.Type == "list" || s.Member.Type == "map"
	if complexMember && !looksLikeJSON(vals[0], '[') && !looksLikeJSON(vals[0], '{') {
		out := make([]any, 0, len(vals))
		for _, v := range vals {
			if s.Member.Type == "list" {
				return nil, &paramError{name, v}
			}
			m, err := parseShorthand(v, ob)
			if err != nil {
				return nil, &paramError{name, err.Error()}
			}
			out = append(out, m)
		}
		return backCompat(out, s)
	}
	out := make([]any, 0, len(vals))
	for _, v := range vals {
		e, err := unpackValue(name, s.Member, v, ob)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func unpackJSON(name, v string, ob *orderBook) (any, error) {
	out, err := decodeOrdered([]byte(v), ob)
	if err != nil {
		return nil, &paramError{name, fmt.Sprintf("Invalid JSON: %s\nJSON received: %s", pyJSONError(v, err), v)}
	}
	return out, nil
}

// applyCLIInput merges --cli-input-json / --cli-input-yaml into params:
// keys already set on the command line win.
func applyCLIInput(parsed *parsedOpts, params map[string]any, ob *orderBook) error {
	jsonVal, hasJSON := parsed.get("--cli-input-json")
	yamlVal, hasYAML := parsed.get("--cli-input-yaml")
	if hasJSON && hasYAML {
		return &validationError{"Only one --cli-input- parameter may be specified."}
	}
	if !hasJSON && !hasYAML {
		return nil
	}
	flag, val := "--cli-input-json", jsonVal
	if hasYAML {
		flag, val = "--cli-input-yaml", yamlVal
	}
	val, _, err := loadParamFile(val)
	if err != nil {
		return &paramError{flag, err.Error()}
	}
	var doc any
	if hasJSON {
		doc, err = decodeOrdered([]byte(val), ob)
		if err != nil {
			return &paramError{"cli-input-json", "Invalid JSON received."}
		}
	} else {
		doc, err = decodeYAMLOrdered([]byte(val), ob)
		if err != nil {
			return &paramError{"cli-input-yaml", "Invalid YAML received."}
		}
	}
	m, ok := doc.(map[string]any)
	if !ok {
		if doc == nil && hasYAML {
			return nil
		}
		return &paramError{strings.TrimPrefix(flag, "--"), "Invalid JSON received."}
	}
	keys := ob.keys(params)
	for _, k := range ob.keys(m) {
		if _, set := params[k]; !set {
			params[k] = m[k]
			keys = append(keys, k)
		}
	}
	ob.set(params, keys)
	return nil
}

// decodeYAMLOrdered parses YAML into plain values, keeping key order.
func decodeYAMLOrdered(data []byte, ob *orderBook) (any, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, err
	}
	if n.Kind == 0 {
		return nil, nil
	}
	return yamlNodeValue(&n, ob)
}

func yamlNodeValue(n *yaml.Node, ob *orderBook) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return yamlNodeValue(n.Content[0], ob)
	case yaml.AliasNode:
		return yamlNodeValue(n.Alias, ob)
	case yaml.MappingNode:
		m := map[string]any{}
		var keys []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			v, err := yamlNodeValue(n.Content[i+1], ob)
			if err != nil {
				return nil, err
			}
			if _, dup := m[k]; !dup {
				keys = append(keys, k)
			}
			m[k] = v
		}
		ob.set(m, keys)
		return m, nil
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			v, err := yamlNodeValue(c, ob)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, err
		}
		switch x := v.(type) {
		case int:
			return float64(x), nil
		case int64:
			return float64(x), nil
		case uint64:
			return float64(x), nil
		case float64, bool, string, nil:
			return x, nil
		}
		return n.Value, nil
	}
	return nil, fmt.Errorf("unsupported YAML node")
}
