package ssmcli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// result is what the output formatters receive: one response, or the
// pages of a paginated call.
type result struct {
	pages       []map[string]any
	paginated   bool
	resultKey   string
	resumeToken string // CLI pagination token (base64), "" when none
	nonAgg      map[string]any
}

func single(m map[string]any) *result { return &result{pages: []map[string]any{m}} }

// pageToken is botocore's next-token dict {"NextToken": ..., maybe
// "boto_truncate_amount": N}.
type pageToken struct {
	next     any // string or nil
	truncate *int
}

func (t pageToken) encode() string {
	var b strings.Builder
	b.WriteString(`{"NextToken": `)
	if s, ok := t.next.(string); ok {
		b.WriteString(pyJSONString(s, true))
	} else {
		b.WriteString(jsonWriter{}.encode(t.next))
	}
	if t.truncate != nil {
		fmt.Fprintf(&b, `, "boto_truncate_amount": %d`, *t.truncate)
	}
	b.WriteString("}")
	return base64.StdEncoding.EncodeToString([]byte(b.String()))
}

// parseStartingToken decodes a CLI token, falling back to the deprecated
// "token___index" form and raw server tokens.
func parseStartingToken(tok string) (next any, index int) {
	clean := strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '/' || r == '=' {
			return r
		}
		return -1
	}, tok)
	if raw, err := base64.StdEncoding.DecodeString(clean); err == nil {
		var m map[string]any
		if json.Unmarshal(raw, &m) == nil && m != nil {
			if v, ok := m["boto_truncate_amount"].(float64); ok {
				index = int(v)
			}
			return m["NextToken"], index
		}
	}
	parts := strings.Split(tok, "___")
	if len(parts) == 2 {
		if n, err := pyInt(parts[1]); err == nil {
			index = int(n)
			parts = parts[:1]
		} else {
			parts = []string{tok}
		}
	}
	if len(parts) > 1 {
		return tok, 0
	}
	if parts[0] == "None" {
		return nil, index
	}
	return parts[0], index
}

// paginated drives botocore's PageIterator and prints the result.
func (inv *invocation) paginated(ctx context.Context, c *client) error {
	pg := inv.op.Pager
	kwargs := copyValue(inv.params, inv.ob).(map[string]any)
	keys := inv.ob.keys(kwargs)
	setKW := func(k string, v any) {
		if _, ok := kwargs[k]; !ok {
			keys = append(keys, k)
		}
		kwargs[k] = v
		inv.ob.set(kwargs, keys)
	}
	delKW := func(k string) {
		delete(kwargs, k)
		var nk []string
		for _, x := range keys {
			if x != k {
				nk = append(nk, x)
			}
		}
		keys = nk
		inv.ob.set(kwargs, keys)
	}
	inject := func(tok any) {
		if s, ok := tok.(string); ok && s != "None" {
			setKW(pg.InputToken, s)
		} else if _, ok := kwargs[pg.InputToken]; ok {
			delKW(pg.InputToken)
		}
	}
	var maxItems *int
	if v, ok := inv.opts.get("--max-items"); ok {
		n, _ := pyInt(v)
		mi := int(n)
		maxItems = &mi
	}
	startTok, hasStart := inv.opts.get("--starting-token")
	var next any
	startIndex := 0
	if hasStart {
		next, startIndex = parseStartingToken(startTok)
		inject(next)
	}
	if v, ok := inv.opts.get("--page-size"); ok {
		n, _ := pyInt(v)
		setKW(pg.LimitKey, float64(n))
	}
	res := &result{paginated: true, resultKey: pg.ResultKey}
	total := 0
	first := true
	var prev any
	for {
		page, err := inv.send(ctx, c, kwargs)
		if err != nil {
			return err
		}
		if first {
			if hasStart {
				if l, ok := page[pg.ResultKey].([]any); ok {
					page[pg.ResultKey] = l[min(startIndex, len(l)):]
				} else if _, ok := page[pg.ResultKey]; ok {
					page[pg.ResultKey] = nil
				}
			}
			res.nonAgg = map[string]any{}
			first = false
		} else {
			startIndex = 0
		}
		items, _ := page[pg.ResultKey].([]any)
		n := len(items)
		if maxItems != nil && total+n-*maxItems > 0 {
			keep := n - (total + n - *maxItems)
			cut := keep
			if cut < 0 {
				cut = max(n+keep, 0)
			}
			page[pg.ResultKey] = items[:cut]
			tr := keep
			if hasStart && len(res.pages) == 0 {
				tr += startIndex
			}
			tok := pageToken{next: next, truncate: &tr}
			res.resumeToken = tok.encode()
			res.pages = append(res.pages, page)
			break
		}
		res.pages = append(res.pages, page)
		if inv.set.output == "text" && inv.q != nil {
			// The text formatter consumes pages as they arrive: a query
			// error on this page stops the pagination here.
			if _, err := inv.q.search(inv.textPage(res, len(res.pages)-1, page), inv.ob); err != nil {
				break
			}
		}
		total += n
		nt, _ := page[pg.OutputToken].(string)
		if nt == "" {
			break
		}
		next = nt
		if maxItems != nil && total == *maxItems {
			res.resumeToken = pageToken{next: nt}.encode()
			break
		}
		if prev != nil && prev == next {
			return &generalError{fmt.Sprintf("The same next token was received twice: {'%s': '%s'}", pg.InputToken, nt)}
		}
		inject(nt)
		prev = next
	}
	return inv.output(res)
}

// merged is PageIterator.build_full_result.
func (r *result) merged(ob *orderBook) map[string]any {
	if !r.paginated {
		return r.pages[0]
	}
	out := map[string]any{}
	var keys []string
	for _, p := range r.pages {
		v, ok := p[r.resultKey]
		if !ok || v == nil {
			continue
		}
		if cur, ok := out[r.resultKey]; ok {
			if cl, ok := cur.([]any); ok {
				if vl, ok := v.([]any); ok {
					out[r.resultKey] = append(cl, vl...)
				}
			}
			continue
		}
		if vl, ok := v.([]any); ok {
			v = append([]any{}, vl...)
		}
		out[r.resultKey] = v
		keys = append(keys, r.resultKey)
	}
	for _, k := range ob.keys(r.nonAgg) {
		out[k] = r.nonAgg[k]
		keys = append(keys, k)
	}
	if r.resumeToken != "" {
		out["NextToken"] = r.resumeToken
		keys = append(keys, "NextToken")
	}
	ob.set(out, keys)
	return out
}
