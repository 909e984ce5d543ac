package ssmcli

import (
	"strings"
	"testing"
	"time"
)

// BenchmarkFormat measures decoding a 1,000-session DescribeSessions page
// and rendering it in each output format.
func BenchmarkFormat(b *testing.B) {
	m, err := loadModel()
	if err != nil {
		b.Fatal(err)
	}
	op := m.Ops["describe-sessions"]
	var body strings.Builder
	body.WriteString(`{"Sessions": [`)
	for i := 0; i < 1000; i++ {
		if i > 0 {
			body.WriteString(", ")
		}
		body.WriteString(sessS1)
	}
	body.WriteString(`]}`)
	raw := []byte(body.String())
	for _, format := range []string{"json", "text", "table", "yaml"} {
		b.Run(format, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for i := 0; i < b.N; i++ {
				ob := newOrderBook()
				v := parseResponseBody(raw, op.Output, timestampFormatter{loc: time.UTC}, ob)
				var out strings.Builder
				switch format {
				case "json":
					out.WriteString(jsonWriter{ob: ob, indent: 4}.encode(v))
				case "text":
					formatText(&out, v)
				case "table":
					if err := formatTable(&out, "DescribeSessions", v, 80, false); err != nil {
						b.Fatal(err)
					}
				case "yaml":
					formatYAML(&out, v, ob)
				}
			}
		})
	}
}
