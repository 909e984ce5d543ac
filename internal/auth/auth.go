// Package auth holds Tether's principals: the users listed in the server's
// YAML configuration, each with an access key, a secret and a small IAM-like
// policy (which actions, which targets by node id or tag, which session
// documents, and whose sessions besides its own it may resume or terminate).
//
// A principal's ARN is arn:aws:iam::<account>:user/<name>, and the session
// ids it creates start with "<name>-", so AWS's usual resource pattern
// session/${aws:username}-* reads the same here.
package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultAccountID is the account of users that name none.
const DefaultAccountID = "123456789012"

// Config is the principals section of the server configuration file:
//
//	account_id: "123456789012"      # default account of the users below
//	users:
//	  - name: Mary-Major
//	    access_key_id: AKIAIOSFODNN7EXAMPLE
//	    secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
//	    session_token: ""           # optional: then required on every request
//	    account_id: ""              # optional: overrides the default
//	    policy:                     # optional; omitted = everything but others' sessions
//	      actions: ["ssm:*"]        # ssm:StartSession, ssm:DescribeSessions, …
//	      targets: ["mi-*", "tag:Env=dev"]
//	      documents: ["SSM-SessionManagerRunShell", "AWS-Start*"]
//	      sessions: ["${aws:username}-*"]   # ids of others' sessions it may resume/terminate
type Config struct {
	AccountID string `yaml:"account_id"`
	Users     []User `yaml:"users"`
}

// User is one configured principal.
type User struct {
	Name            string  `yaml:"name"`
	AccessKeyID     string  `yaml:"access_key_id"`
	SecretAccessKey string  `yaml:"secret_access_key"`
	SessionToken    string  `yaml:"session_token"`
	AccountID       string  `yaml:"account_id"`
	Policy          *Policy `yaml:"policy"`
}

// Policy says what a user may do. A nil list means "any" for Actions,
// Targets and Documents, and "none besides its own" for Sessions. Patterns
// are globs: * matches any run of characters, ? one character;
// ${aws:username} is replaced by the user's name.
type Policy struct {
	Actions   []string `yaml:"actions"`
	Targets   []string `yaml:"targets"`   // node ids, or tag:Key=Value
	Documents []string `yaml:"documents"` // document names
	Sessions  []string `yaml:"sessions"`  // session ids of other principals' sessions
}

var (
	userNameRE  = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	accountIDRE = regexp.MustCompile(`^[0-9]{12}$`)
)

// ParseConfig reads a YAML configuration. Unknown fields are errors.
func ParseConfig(r io.Reader) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("parse principals: %w", err)
	}
	return c, c.Validate()
}

// LoadConfig reads the YAML configuration file at path.
func LoadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("load principals: %w", err)
	}
	defer f.Close()
	return ParseConfig(f)
}

// Validate checks names, keys and accounts and rejects duplicates.
func (c Config) Validate() error {
	if c.AccountID != "" && !accountIDRE.MatchString(c.AccountID) {
		return fmt.Errorf("account_id %q: want 12 digits", c.AccountID)
	}
	names, keys := map[string]bool{}, map[string]bool{}
	for i, u := range c.Users {
		switch {
		case !userNameRE.MatchString(u.Name):
			return fmt.Errorf("users[%d]: name %q: want 1-64 of [A-Za-z0-9_+=,.@-]", i, u.Name)
		case u.AccessKeyID == "" || u.SecretAccessKey == "":
			return fmt.Errorf("user %s: access_key_id and secret_access_key are required", u.Name)
		case strings.ContainsAny(u.AccessKeyID, "/ \t"):
			return fmt.Errorf("user %s: access_key_id %q contains '/' or spaces", u.Name, u.AccessKeyID)
		case u.AccountID != "" && !accountIDRE.MatchString(u.AccountID):
			return fmt.Errorf("user %s: account_id %q: want 12 digits", u.Name, u.AccountID)
		case names[u.Name]:
			return fmt.Errorf("user %s is listed twice", u.Name)
		case keys[u.AccessKeyID]:
			return fmt.Errorf("access key %s is listed twice", u.AccessKeyID)
		}
		names[u.Name], keys[u.AccessKeyID] = true, true
	}
	return nil
}

// Principal is an authenticated caller.
type Principal struct {
	Name            string
	AccountID       string
	ARN             string
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	policy          *Policy // nil: the default policy
}

// Directory finds principals by access key. It is immutable and safe for
// concurrent use.
type Directory struct {
	byKey map[string]*Principal
}

// NewDirectory builds a Directory from a validated Config.
func NewDirectory(c Config) (*Directory, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	d := &Directory{byKey: make(map[string]*Principal, len(c.Users))}
	for _, u := range c.Users {
		acct := firstNonEmpty(u.AccountID, c.AccountID, DefaultAccountID)
		d.byKey[u.AccessKeyID] = &Principal{
			Name: u.Name, AccountID: acct, ARN: "arn:aws:iam::" + acct + ":user/" + u.Name,
			AccessKeyID: u.AccessKeyID, SecretAccessKey: u.SecretAccessKey, SessionToken: u.SessionToken,
			policy: u.Policy,
		}
	}
	return d, nil
}

// Lookup returns the principal owning an access key.
func (d *Directory) Lookup(accessKeyID string) (*Principal, bool) {
	p, ok := d.byKey[accessKeyID]
	return p, ok
}

// Len is the number of principals.
func (d *Directory) Len() int { return len(d.byKey) }

// MayPerform reports whether the principal may call action ("ssm:StartSession").
func (p *Principal) MayPerform(action string) bool {
	if p.policy == nil || p.policy.Actions == nil {
		return true
	}
	return p.matchAny(p.policy.Actions, action)
}

// MayTarget reports whether the principal may start sessions on a node with
// the given id and tags.
func (p *Principal) MayTarget(nodeID string, tags map[string]string) bool {
	if p.policy == nil || p.policy.Targets == nil {
		return true
	}
	for _, pat := range p.policy.Targets {
		if kv, ok := strings.CutPrefix(pat, "tag:"); ok {
			k, v, _ := strings.Cut(kv, "=")
			if tv, has := tags[k]; has && glob(p.expand(v), tv) {
				return true
			}
			continue
		}
		if glob(p.expand(pat), nodeID) {
			return true
		}
	}
	return false
}

// MayUseDocument reports whether the principal may start sessions with the
// named document.
func (p *Principal) MayUseDocument(name string) bool {
	if p.policy == nil || p.policy.Documents == nil {
		return true
	}
	return p.matchAny(p.policy.Documents, name)
}

// MayActOnSession reports whether the principal may resume or terminate the
// session with the given id and owner ARN: always its own, others' only when
// the policy's Sessions patterns match the id.
func (p *Principal) MayActOnSession(sessionID, ownerARN string) bool {
	if ownerARN == p.ARN {
		return true
	}
	return p.policy != nil && p.matchAny(p.policy.Sessions, sessionID)
}

func (p *Principal) matchAny(patterns []string, s string) bool {
	for _, pat := range patterns {
		if glob(p.expand(pat), s) {
			return true
		}
	}
	return false
}

func (p *Principal) expand(pat string) string {
	return strings.ReplaceAll(pat, "${aws:username}", p.Name)
}

// glob matches s against pattern, where * matches any run of characters
// (including none) and ? exactly one.
func glob(pattern, s string) bool {
	px, sx := 0, 0
	nextPx, nextSx := -1, -1
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				nextPx, nextSx = px, sx+1
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		if nextSx > 0 && nextSx <= len(s) {
			px, sx = nextPx, nextSx
			continue
		}
		return false
	}
	return true
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal of the request, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// DeniedMessage is AWS's AccessDeniedException wording.
func DeniedMessage(p *Principal, action, resource string) string {
	return fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s", p.ARN, action, resource)
}
