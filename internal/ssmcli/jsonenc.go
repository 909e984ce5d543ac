package ssmcli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
)

// decodeOrdered parses JSON into plain Go values (numbers as float64),
// recording the key order of every object in ob.
func decodeOrdered(data []byte, ob *orderBook) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, ob)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, ob *orderBook) (any, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch x := t.(type) {
	case json.Delim:
		switch x {
		case '{':
			m := map[string]any{}
			var keys []string
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string)
				v, err := decodeValue(dec, ob)
				if err != nil {
					return nil, err
				}
				if _, dup := m[k]; !dup {
					keys = append(keys, k)
				}
				m[k] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			ob.set(m, keys)
			return m, nil
		case '[':
			l := []any{}
			for dec.More() {
				v, err := decodeValue(dec, ob)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return l, nil
		}
		return nil, fmt.Errorf("unexpected delimiter %v", x)
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, err
		}
		return f, nil
	default:
		return x, nil
	}
}

// jsonWriter serialises values like Python's json.dump.
type jsonWriter struct {
	ob          *orderBook
	indent      int  // 0 = compact (", " and ": " separators)
	ensureASCII bool // escape non-ASCII as \uXXXX
}

func (w jsonWriter) encode(v any) string {
	var b strings.Builder
	w.write(&b, v, 0)
	return b.String()
}

func (w jsonWriter) write(b *strings.Builder, v any, level int) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case float64:
		b.WriteString(pyJSONNumber(x))
	case int:
		b.WriteString(strconv.Itoa(x))
	case string:
		b.WriteString(pyJSONString(x, w.ensureASCII))
	case pyDatetime:
		b.WriteString(pyJSONString(x.iso, w.ensureASCII))
	case []any:
		if len(x) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
				if w.indent == 0 {
					b.WriteByte(' ')
				}
			}
			w.newline(b, level+1)
			w.write(b, e, level+1)
		}
		w.newline(b, level)
		b.WriteByte(']')
	case map[string]any:
		if len(x) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteByte('{')
		for i, k := range w.ob.keys(x) {
			if i > 0 {
				b.WriteByte(',')
				if w.indent == 0 {
					b.WriteByte(' ')
				}
			}
			w.newline(b, level+1)
			b.WriteString(pyJSONString(k, w.ensureASCII))
			b.WriteString(": ")
			w.write(b, x[k], level+1)
		}
		w.newline(b, level)
		b.WriteByte('}')
	default:
		b.WriteString(pyJSONString(fmt.Sprint(x), w.ensureASCII))
	}
}

func (w jsonWriter) newline(b *strings.Builder, level int) {
	if w.indent == 0 {
		return
	}
	b.WriteByte('\n')
	b.WriteString(strings.Repeat(" ", w.indent*level))
}

func pyJSONNumber(f float64) string {
	s := pyNumber(f)
	switch s {
	case "inf":
		return "Infinity"
	case "-inf":
		return "-Infinity"
	case "nan":
		return "NaN"
	}
	return s
}

// pyJSONString quotes s like Python's json module.
func pyJSONString(s string, ensureASCII bool) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20:
				fmt.Fprintf(&b, `\u%04x`, r)
			case ensureASCII && r > 0x7e:
				if r > 0xffff {
					r1, r2 := utf16.EncodeRune(r)
					fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
				} else {
					fmt.Fprintf(&b, `\u%04x`, r)
				}
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
