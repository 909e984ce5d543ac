package ssmcli

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"
)

// autoPrompt reports whether --cli-auto-prompt (or AWS_CLI_AUTO_PROMPT=on)
// is in effect and stdin is a terminal.
func (inv *invocation) autoPrompt() bool {
	on := inv.g.autoPrompt == "true"
	if inv.g.autoPrompt == "" {
		v := inv.cfg.getenv("AWS_CLI_AUTO_PROMPT")
		on = v == "on" || v == "on-partial"
	}
	if !on {
		return false
	}
	f, ok := inv.cfg.Stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// promptRequired asks on the terminal for every required parameter that
// the command line did not give, showing its documentation overview.
func (inv *invocation) promptRequired() error {
	in := bufio.NewReader(inv.cfg.Stdin)
	for _, s := range inv.specs {
		if !s.required || inv.opts.has(s.dest) || s.member == nil {
			continue
		}
		fmt.Fprintf(inv.cfg.Stderr, "%s (%s)\n> ", s.name, s.member.Overview)
		line, err := in.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if err != nil && line == "" {
			return &argError{"the following arguments are required: " + s.name}
		}
		vals := []string{line}
		if s.kind == optList {
			vals = shellSplit(line)
		}
		inv.opts.set(s.dest, vals)
	}
	return nil
}
