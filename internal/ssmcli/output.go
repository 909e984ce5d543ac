package ssmcli

import (
	"io"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/term"
)

// stdoutTerminal reports whether stdout is a terminal and its width.
func (inv *invocation) stdoutTerminal() (bool, int) {
	f, ok := inv.cfg.Stdout.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false, 80
	}
	w, _, err := term.GetSize(int(f.Fd()))
	if err != nil || w <= 0 {
		return true, 80
	}
	return true, w
}

// output formats r in the configured format and writes it to stdout or
// the pager.
func (inv *invocation) output(r *result) error {
	var b strings.Builder
	tty, width := inv.stdoutTerminal()
	format := inv.set.output
	switch format {
	case "text":
		if err := inv.formatTextResult(&b, r); err != nil {
			// Pages before the failing one were already printed.
			if b.Len() > 0 {
				_ = inv.write(b.String(), tty)
			}
			return err
		}
	case "yaml-stream":
		pages, err := inv.streamPages(r)
		if err != nil {
			return err
		}
		for _, p := range pages {
			formatYAML(&b, []any{p}, inv.ob)
		}
	default:
		data, err := inv.q.search(r.merged(inv.ob), inv.ob)
		if err != nil {
			return err
		}
		switch format {
		case "table":
			color := inv.g.color == "on" || (inv.g.color == "auto" && tty)
			if err := formatTable(&b, inv.op.Name, data, width, color); err != nil {
				return err
			}
			if color && tty && b.Len() > 0 {
				b.WriteString(ansiReset) // colorama's reset_all at exit, on a terminal
			}
		case "yaml":
			if !isEmptyMap(data) {
				formatYAML(&b, data, inv.ob)
			}
		default:
			if !isEmptyMap(data) {
				b.WriteString(jsonWriter{ob: inv.ob, indent: 4}.encode(data))
				b.WriteString("\n")
			}
		}
	}
	if b.Len() == 0 {
		return nil
	}
	return inv.write(b.String(), tty)
}

func isEmptyMap(v any) bool {
	m, ok := v.(map[string]any)
	return ok && len(m) == 0
}

func (inv *invocation) streamPages(r *result) ([]any, error) {
	var out []any
	for _, p := range r.pages {
		v, err := inv.q.search(p, inv.ob)
		if err != nil {
			return nil, err
		}
		if !r.paginated && isEmptyMap(v) {
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

// formatTextResult is the TextFormatter: pages are formatted one by one.
func (inv *invocation) formatTextResult(b *strings.Builder, r *result) error {
	if !r.paginated {
		v, err := inv.q.search(r.pages[0], inv.ob)
		if err != nil {
			return err
		}
		formatText(b, v)
		return nil
	}
	for i, p := range r.pages {
		v, err := inv.q.search(inv.textPage(r, i, p), inv.ob)
		if err != nil {
			return err
		}
		formatText(b, v)
	}
	if r.resumeToken != "" {
		inner := map[string]any{"NextToken": r.resumeToken}
		v, err := inv.q.search(map[string]any{"NextToken": inner}, inv.ob)
		if err != nil {
			return err
		}
		formatText(b, v)
	}
	return nil
}

// textPage is what the text formatter sees of page i: the result key,
// plus the non-aggregated keys on the first page.
func (inv *invocation) textPage(r *result, i int, p map[string]any) map[string]any {
	cur := map[string]any{}
	var keys []string
	if i == 0 {
		for _, k := range inv.ob.keys(r.nonAgg) {
			cur[k] = r.nonAgg[k]
			keys = append(keys, k)
		}
	}
	cur[r.resultKey] = p[r.resultKey]
	keys = append(keys, r.resultKey)
	inv.ob.set(cur, keys)
	return cur
}

// write sends output to the pager when stdout is a terminal, else to
// stdout.
func (inv *invocation) write(s string, tty bool) error {
	if tty && !inv.g.noCLIPager {
		if argv := inv.pagerCommand(); len(argv) > 0 {
			if err := inv.runPager(argv, s); err == nil {
				return nil
			}
		}
	}
	_, err := io.WriteString(inv.cfg.Stdout, s)
	return err
}

// pagerCommand resolves AWS_PAGER > cli_pager > PAGER > "less -R".
func (inv *invocation) pagerCommand() []string {
	cmd := "less -R"
	if v, ok := inv.cfg.LookupEnv("AWS_PAGER"); ok {
		cmd = v
	} else if inv.set.pager != nil {
		cmd = *inv.set.pager
	} else if v, ok := inv.cfg.LookupEnv("PAGER"); ok {
		cmd = v
	}
	return shellSplit(cmd)
}

func (inv *invocation) runPager(argv []string, s string) error {
	path, err := inv.cfg.LookPath(argv[0])
	if err != nil {
		return err
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Stdin = strings.NewReader(s)
	cmd.Stdout = inv.cfg.Stdout
	cmd.Stderr = inv.cfg.Stderr
	env := os.Environ()
	if _, ok := inv.cfg.LookupEnv("LESS"); !ok {
		env = append(env, "LESS=FRX")
	}
	cmd.Env = env
	return cmd.Run()
}

// shellSplit splits a command line with POSIX shell quoting (shlex).
func shellSplit(s string) []string {
	var out []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			inWord = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				cur.WriteString(s[i+1:])
				i = len(s)
			} else {
				cur.WriteString(s[i+1 : i+1+j])
				i += j + 1
			}
		case c == '"':
			inWord = true
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\\\"$`\n", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
		case c == '\\' && i+1 < len(s):
			inWord = true
			i++
			cur.WriteByte(s[i])
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}
