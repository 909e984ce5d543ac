// Package cli is Tether's command tree: it maps `tether <command> …` to the
// package that implements the command. It is imported only by cmd/tether.
//
// Every command is a function of (ctx, args, io) returning an exit code; no
// command calls os.Exit, reads globals or parses flags at package level.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// IO carries the standard streams and environment of one invocation, so that
// tests can run commands in-process.
type IO struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

// Stdio returns the process's real streams and environment.
func Stdio() IO {
	return IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv}
}

func (s IO) getenv(k string) string {
	if s.Getenv == nil {
		return os.Getenv(k)
	}
	return s.Getenv(k)
}

// command is one top-level subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdio IO) int
}

// commands is the top-level command table. Each entry lives in a file named
// after the command.
func commands() map[string]command {
	return map[string]command{
		"version":                {"print the version", runVersion},
		"server":                 {"run the API server and gateway (AWS JSON 1.1 + SigV4, websockets, embedded SQLite)", runServer},
		"dev":                    {"run a ready-to-use Tether: server, storage, an admin user and a local agent", runDev},
		"ssm":                    {"AWS-CLI-compatible Session Manager commands (tether ssm <operation>)", runSSM},
		"agent":                  {"run the agent on a managed node (tether agent register / run)", runAgent},
		"session-manager-plugin": {"the session-manager-plugin entry point the AWS CLI runs (also via a symlink of that name)", runPlugin},
	}
}

// Version is Tether's version, four parts as the AWS tools expect.
const Version = "1.3.0.0"

func runVersion(_ context.Context, _ []string, stdio IO) int {
	fmt.Fprintf(stdio.Out, "tether %s\n", Version)
	return 0
}

// Main runs tether with argv (argv[0] is the program name) and returns the
// process exit code.
func Main(ctx context.Context, argv []string, stdio IO) int {
	if len(argv) == 0 {
		argv = []string{"tether"}
	}
	cmds := commands()
	// Invoked through a symlink named after a subcommand
	// (e.g. session-manager-plugin): dispatch on the program name.
	if c, ok := cmds[filepath.Base(argv[0])]; ok {
		return c.run(ctx, argv[1:], stdio)
	}
	args := argv[1:]
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdio.Err, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stdio.Err, "tether: unknown command %q\n\n", args[0])
		usage(stdio.Err, cmds)
		return 2
	}
	return c.run(ctx, args[1:], stdio)
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: tether <command> [options]\n\ncommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-24s %s\n", n, cmds[n].summary)
	}
	io.WriteString(w, b.String())
}
