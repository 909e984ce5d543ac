// Package shell runs the agent's shell-like session documents on a managed
// node: Standard_Stream (an interactive login shell on a PTY),
// InteractiveCommands (commands on a PTY) and NonInteractiveCommands
// (commands with pipes: stdout, stderr and the exit code).
//
// Each Run function owns the process it starts: it returns only after the
// process has exited and all of its output has been handed to the Output,
// or after ctx is cancelled, in which case the process group is killed.
package shell

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Config configures how sessions start their processes.
type Config struct {
	// Shell is the program run for Standard_Stream sessions and used as
	// `Shell -c commands` for command sessions. Empty means the run-as
	// user's login shell from the passwd database, or /bin/sh if it has none.
	Shell string
	// RunAsUser runs processes as this user. It needs the agent to run as
	// root. Empty means the agent's own user.
	RunAsUser string
	// Env is added to the process environment (KEY=value).
	Env []string
	// DrainTimeout bounds how long output is still read after the process
	// exited, in case a background child keeps the terminal or pipe open.
	// Zero means 2 s.
	DrainTimeout time.Duration
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

func (c Config) drainTimeout() time.Duration {
	if c.DrainTimeout <= 0 {
		return 2 * time.Second
	}
	return c.DrainTimeout
}

// account is the user a session's processes run as.
type account struct {
	name, home, shell string
	cred              *syscall.Credential // nil: the agent's own identity
}

// resolveAccount looks up who processes run as and which shell they use.
func resolveAccount(cfg Config) (account, error) {
	var u *user.User
	var err error
	if cfg.RunAsUser == "" {
		u, err = user.Current()
	} else {
		u, err = user.Lookup(cfg.RunAsUser)
	}
	if err != nil {
		return account{}, fmt.Errorf("look up run-as user: %w", err)
	}
	a := account{name: u.Username, home: u.HomeDir, shell: cfg.Shell}
	if a.shell == "" {
		a.shell = loginShell(u.Username)
	}
	if cfg.RunAsUser != "" && u.Uid != strconv.Itoa(os.Geteuid()) {
		if os.Geteuid() != 0 {
			return account{}, fmt.Errorf("run as user %s: the agent must run as root to change user", cfg.RunAsUser)
		}
		cred, err := credential(u)
		if err != nil {
			return account{}, err
		}
		a.cred = cred
	}
	return a, nil
}

func credential(u *user.User) (*syscall.Credential, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("uid of %s: %w", u.Username, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("gid of %s: %w", u.Username, err)
	}
	c := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if gids, err := u.GroupIds(); err == nil {
		for _, g := range gids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				c.Groups = append(c.Groups, uint32(n))
			}
		}
	}
	return c, nil
}

// loginShell returns the login shell of name from /etc/passwd, or /bin/sh.
func loginShell(name string) string {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return "/bin/sh"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) == 7 && fields[0] == name && fields[6] != "" {
			if _, err := os.Stat(fields[6]); err == nil {
				return fields[6]
			}
		}
	}
	return "/bin/sh"
}

// environ builds the environment of a session process: the agent's PATH,
// the user's identity, TERM=xterm-256color and a LANG default as the real
// agent sets them,
// then cfg.Env.
func environ(cfg Config, a account) []string {
	env := []string{
		"HOME=" + a.home, "USER=" + a.name, "LOGNAME=" + a.name, "SHELL=" + a.shell,
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	env = append(env, "PATH="+path)
	// The agent's own TERM says nothing about the client's terminal.
	lang := os.Getenv("LANG")
	if lang == "" {
		lang = "C.UTF-8"
	}
	env = append(env, "TERM=xterm-256color", "LANG="+lang)
	return append(env, cfg.Env...)
}

// dir is the working directory: the user's home if it exists, else /.
func (a account) dir() string {
	if st, err := os.Stat(a.home); err == nil && st.IsDir() {
		return a.home
	}
	return "/"
}

// exitStatus converts the result of Wait into a shell-style exit code.
func exitStatus(err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	return -1, err
}

// argv0Login is the argv[0] that makes a shell a login shell ("-bash").
func argv0Login(shell string) string { return "-" + filepath.Base(shell) }
