package ssmcli

import (
	"strings"
)

var epochDatetime = pyDatetime{iso: "1970-01-01T00:00:00", str: "1970-01-01 00:00:00"}

// skeletonValue is botocore's ArgumentGenerator.
func skeletonValue(s *Shape, name string, memberNames bool, stack []string, ob *orderBook) any {
	depth := 0
	for _, n := range stack {
		if n == s.Name {
			depth++
		}
	}
	stack = append(stack, s.Name)
	switch s.Type {
	case "structure":
		out := map[string]any{}
		if depth > 1 {
			ob.set(out, nil)
			return out
		}
		var keys []string
		for _, m := range s.Members {
			out[m.Name] = skeletonValue(m.Shape, m.Name, memberNames, stack, ob)
			keys = append(keys, m.Name)
		}
		ob.set(out, keys)
		return out
	case "list":
		n := ""
		if memberNames {
			n = s.Member.Name
		}
		return []any{skeletonValue(s.Member, n, memberNames, stack, ob)}
	case "map":
		out := map[string]any{"KeyName": skeletonValue(s.Value, "KeyName", memberNames, stack, ob)}
		ob.set(out, []string{"KeyName"})
		return out
	case "string":
		if memberNames {
			return name
		}
		if len(s.Enum) > 0 {
			return s.Enum[0]
		}
		return ""
	case "integer", "long":
		return float64(0)
	case "float", "double":
		return float64(0)
	case "boolean":
		return true
	case "timestamp":
		return epochDatetime
	}
	return ""
}

// inputSkeleton prints --generate-cli-skeleton input / yaml-input.
func (inv *invocation) inputSkeleton(kind string) error {
	v := skeletonValue(inv.op.Input, "", false, nil, inv.ob)
	var b strings.Builder
	if kind == "yaml-input" {
		yamlInputSkeleton(&b, v.(map[string]any), inv.op.Input, 0, false, inv.ob)
	} else {
		b.WriteString(jsonWriter{ob: inv.ob, indent: 4, ensureASCII: true}.encode(v))
		b.WriteString("\n")
	}
	_, err := inv.cfg.Stdout.Write([]byte(b.String()))
	return err
}

// yamlInputSkeleton renders the commented YAML skeleton as ruamel's
// round-trip dumper lays it out.
func yamlInputSkeleton(b *strings.Builder, m map[string]any, s *Shape, indent int, inline bool, ob *orderBook) {
	pad := strings.Repeat(" ", indent)
	for i, k := range ob.keys(m) {
		if i > 0 || !inline {
			b.WriteString(pad)
		}
		b.WriteString(k + ":")
		var mem *Member
		if s != nil {
			mem = s.member(k)
		}
		comment := ""
		if mem != nil {
			var parts []string
			if s.isRequired(k) {
				parts = append(parts, "[REQUIRED]")
			}
			parts = append(parts, mem.Overview)
			if len(mem.Shape.Enum) > 0 {
				parts = append(parts, "Valid values are: "+strings.Join(mem.Shape.Enum, ", ")+".")
			}
			comment = strings.Join(parts, " ")
			if strings.TrimSpace(comment) == "" {
				comment = ""
			}
		}
		sep := " "
		if i == 0 {
			sep = "  "
		}
		v := m[k]
		switch x := v.(type) {
		case map[string]any, []any:
			if comment != "" {
				b.WriteString(sep + "# " + comment)
			}
			b.WriteString("\n")
			var sub *Shape
			if mem != nil {
				sub = mem.Shape
			}
			yamlSkeletonBlock(b, x, sub, indent, ob)
		default:
			b.WriteString(" " + yamlSkeletonScalar(v))
			if comment != "" {
				b.WriteString(sep + "# " + comment)
			}
			b.WriteString("\n")
		}
	}
}

func yamlSkeletonBlock(b *strings.Builder, v any, s *Shape, indent int, ob *orderBook) {
	pad := strings.Repeat(" ", indent)
	switch x := v.(type) {
	case map[string]any:
		var sub *Shape
		if s != nil && s.Type == "structure" {
			sub = s
		}
		if s != nil && s.Type == "map" {
			for _, k := range ob.keys(x) {
				b.WriteString(pad + "  " + k + ":")
				yamlSkeletonValue(b, x[k], s.Value, indent+2, ob)
			}
			return
		}
		yamlInputSkeleton(b, x, sub, indent+2, false, ob)
	case []any:
		var member *Shape
		if s != nil {
			member = s.Member
		}
		for _, e := range x {
			switch ex := e.(type) {
			case map[string]any:
				b.WriteString(pad + "- ")
				yamlInputSkeleton(b, ex, member, indent+2, true, ob)
			default:
				b.WriteString(pad + "- " + yamlSkeletonScalar(e) + "\n")
			}
		}
	}
}

func yamlSkeletonValue(b *strings.Builder, v any, s *Shape, indent int, ob *orderBook) {
	switch v.(type) {
	case map[string]any, []any:
		b.WriteString("\n")
		yamlSkeletonBlock(b, v, s, indent, ob)
	default:
		b.WriteString(" " + yamlSkeletonScalar(v) + "\n")
	}
}

func yamlSkeletonScalar(v any) string {
	if s, ok := v.(string); ok {
		var b strings.Builder
		e := &yamlEmitter{b: &b, whitespace: true, indention: true}
		e.scalar(s, false)
		return b.String()
	}
	s, _ := yamlScalarText(v)
	return s
}

// outputSkeleton prints --generate-cli-skeleton output: a fake response
// whose strings are member names, through the normal formatters.
func (inv *invocation) outputSkeleton() error {
	v := skeletonValue(inv.op.Output, "", true, nil, inv.ob).(map[string]any)
	// botocore's Stubber validates the fake response against the output
	// shape, so minimum lengths and values of the model apply to it.
	if err := validateParams(v, inv.op.Output, inv.ob); err != nil {
		return err
	}
	return inv.output(single(v))
}
