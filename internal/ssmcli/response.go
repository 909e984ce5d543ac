package ssmcli

import "encoding/json"

// parseResponseBody decodes a successful response body against the output
// shape like botocore's JSON parser: unknown and null members are dropped,
// members come out in model order, timestamps are formatted. A body that
// is empty or not a JSON object parses to an empty result.
func parseResponseBody(body []byte, s *Shape, ts timestampFormatter, ob *orderBook) map[string]any {
	if len(body) == 0 || !json.Valid(body) {
		return newOrdered(ob)
	}
	raw, err := decodeOrdered(body, ob)
	if err != nil {
		return newOrdered(ob)
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return newOrdered(ob)
	}
	out, _ := parseShape(m, s, ts, ob).(map[string]any)
	if out == nil {
		return newOrdered(ob)
	}
	return out
}

func newOrdered(ob *orderBook) map[string]any {
	m := map[string]any{}
	ob.set(m, nil)
	return m
}

func parseShape(v any, s *Shape, ts timestampFormatter, ob *orderBook) any {
	if v == nil {
		return nil
	}
	switch s.Type {
	case "structure":
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		out := map[string]any{}
		var keys []string
		for _, mem := range s.Members {
			if rv, ok := m[mem.Name]; ok && rv != nil {
				out[mem.Name] = parseShape(rv, mem.Shape, ts, ob)
				keys = append(keys, mem.Name)
			}
		}
		ob.set(out, keys)
		return out
	case "list":
		l, ok := v.([]any)
		if !ok {
			return v
		}
		out := make([]any, len(l))
		for i, e := range l {
			out[i] = parseShape(e, s.Member, ts, ob)
		}
		return out
	case "map":
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		out := map[string]any{}
		keys := ob.keys(m)
		for _, k := range keys {
			out[k] = parseShape(m[k], s.Value, ts, ob)
		}
		ob.set(out, keys)
		return out
	case "timestamp":
		return ts.format(v)
	}
	return v
}
