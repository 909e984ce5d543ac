package ssmcli

import (
	"sort"
	"strings"
)

// formatText is a port of awscli/text.py.
func formatText(b *strings.Builder, item any) {
	textItem(b, item, "", nil)
}

func textItem(b *strings.Builder, item any, identifier string, scalarKeys []string) {
	switch x := item.(type) {
	case map[string]any:
		textDict(b, scalarKeys, x, identifier)
	case []any:
		textList(b, x, identifier)
	default:
		b.WriteString(pyStr(item))
		b.WriteString("\n")
	}
}

func textList(b *strings.Builder, item []any, identifier string) {
	if len(item) == 0 {
		return
	}
	hasDict, hasList := false, false
	for _, e := range item {
		switch e.(type) {
		case map[string]any:
			hasDict = true
		case []any:
			hasList = true
		}
	}
	switch {
	case hasDict:
		keys := allScalarKeys(item)
		for _, e := range item {
			textItem(b, e, identifier, keys)
		}
	case hasList:
		var scalars, nonScalars []any
		for _, e := range item {
			if isScalar(e) {
				scalars = append(scalars, e)
			} else {
				nonScalars = append(nonScalars, e)
			}
		}
		if len(scalars) > 0 {
			textScalarList(b, scalars, identifier)
		}
		for _, e := range nonScalars {
			textItem(b, e, identifier, nil)
		}
	default:
		textScalarList(b, item, identifier)
	}
}

func textScalarList(b *strings.Builder, elems []any, identifier string) {
	if identifier != "" {
		for _, e := range elems {
			b.WriteString(strings.ToUpper(identifier) + "\t" + pyStr(e) + "\n")
		}
		return
	}
	parts := make([]string, len(elems))
	for i, e := range elems {
		parts[i] = pyStr(e)
	}
	b.WriteString(strings.Join(parts, "\t") + "\n")
}

func textDict(b *strings.Builder, scalarKeys []string, item map[string]any, identifier string) {
	var scalars []string
	type pair struct {
		k string
		v any
	}
	var nonScalars []pair
	if scalarKeys == nil {
		for _, k := range sortedKeys(item) {
			if isScalar(item[k]) {
				scalars = append(scalars, pyStr(item[k]))
			} else {
				nonScalars = append(nonScalars, pair{k, item[k]})
			}
		}
	} else {
		set := map[string]bool{}
		for _, k := range scalarKeys {
			set[k] = true
			if v, ok := item[k]; ok {
				scalars = append(scalars, pyStr(v))
			} else {
				scalars = append(scalars, "")
			}
		}
		for _, k := range sortedKeys(item) {
			if !set[k] {
				nonScalars = append(nonScalars, pair{k, item[k]})
			}
		}
	}
	if len(scalars) > 0 {
		if identifier != "" {
			scalars = append([]string{strings.ToUpper(identifier)}, scalars...)
		}
		b.WriteString(strings.Join(scalars, "\t") + "\n")
	}
	for _, p := range nonScalars {
		textItem(b, p.v, p.k, nil)
	}
}

func allScalarKeys(list []any) []string {
	seen := map[string]bool{}
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			for k, v := range m {
				if isScalar(v) {
					seen[k] = true
				}
			}
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
