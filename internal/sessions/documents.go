package sessions

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// DefaultDocument is the document of a StartSession without DocumentName.
const DefaultDocument = "SSM-SessionManagerRunShell"

// Session types of the built-in documents (the agent's plugins).
const (
	TypeStandardStream = "Standard_Stream"
	TypePort           = "Port"
	TypeInteractive    = "InteractiveCommands"
	TypeNonInteractive = "NonInteractiveCommands"
)

// Document is a built-in Session Manager document.
type Document struct {
	Name        string
	SessionType string
	Params      []Param
}

// Param is one document parameter. Every parameter takes exactly one value.
type Param struct {
	Name     string
	Required bool
	Default  string // used when the parameter is not given (and not Required)
	Pattern  *regexp.Regexp
}

// portPattern and localPortPattern are AWS's allowedPattern values.
var (
	portPattern      = regexp.MustCompile(`^([1-9]|[1-9][0-9]{1,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$`)
	localPortPattern = regexp.MustCompile(`^([0-9]|[1-9][0-9]{1,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$`)
	hostPattern      = regexp.MustCompile(`^[a-zA-Z0-9.:\-_\[\]]{1,255}$`)
	commandPattern   = regexp.MustCompile(`^(?s).+$`)
)

// Documents returns the built-in documents by name, with AWS's names and
// parameters.
func Documents() map[string]Document {
	port := func(def string) Param { return Param{Name: "portNumber", Default: def, Pattern: portPattern} }
	local := Param{Name: "localPortNumber", Default: "", Pattern: localPortPattern}
	docs := []Document{
		{Name: "SSM-SessionManagerRunShell", SessionType: TypeStandardStream},
		{Name: "AWS-StartPortForwardingSession", SessionType: TypePort, Params: []Param{port("80"), local}},
		{Name: "AWS-StartPortForwardingSessionToRemoteHost", SessionType: TypePort, Params: []Param{
			{Name: "host", Required: true, Pattern: hostPattern}, port("80"), local}},
		{Name: "AWS-StartSSHSession", SessionType: TypePort, Params: []Param{port("22")}},
		{Name: "AWS-StartInteractiveCommand", SessionType: TypeInteractive, Params: []Param{
			{Name: "command", Required: true, Pattern: commandPattern}}},
		{Name: "AWS-StartNonInteractiveCommand", SessionType: TypeNonInteractive, Params: []Param{
			{Name: "command", Required: true, Pattern: commandPattern}}},
	}
	m := make(map[string]Document, len(docs))
	for _, d := range docs {
		m[d.Name] = d
	}
	return m
}

// documentName extracts the name from a DocumentName that may be an ARN
// (arn:aws:ssm:<region>:<account>:document/<name>).
func documentName(s string) string {
	if strings.HasPrefix(s, "arn:") {
		if i := strings.LastIndex(s, ":document/"); i >= 0 {
			return s[i+len(":document/"):]
		}
	}
	return s
}

// Resolve checks the given parameters against the document and returns them
// with defaults filled in. The error message is the InvalidDocument message.
func (d Document) Resolve(given map[string][]string) (map[string][]string, error) {
	known := map[string]bool{}
	out := map[string][]string{}
	for _, p := range d.Params {
		known[p.Name] = true
		vals, ok := given[p.Name]
		switch {
		case !ok && p.Required:
			return nil, fmt.Errorf("Parameter %s is required by document %s.", p.Name, d.Name) //nolint:staticcheck // AWS message
		case !ok:
			if p.Default != "" {
				out[p.Name] = []string{p.Default}
			}
			continue
		case len(vals) != 1:
			return nil, fmt.Errorf("Parameter %s of document %s takes exactly one value, not %d.", p.Name, d.Name, len(vals)) //nolint:staticcheck // AWS message
		case p.Pattern != nil && !p.Pattern.MatchString(vals[0]):
			return nil, fmt.Errorf("Parameter %s of document %s has an invalid value %q: it must match %s.", p.Name, d.Name, truncate(vals[0], 64), p.Pattern) //nolint:staticcheck // AWS message
		}
		out[p.Name] = []string{vals[0]}
	}
	var unknown []string
	for k := range given {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("Document %s does not define the parameters %s.", d.Name, strings.Join(unknown, ", ")) //nolint:staticcheck // AWS message
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
