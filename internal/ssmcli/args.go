package ssmcli

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// optKind says how many values an option takes (argparse nargs).
type optKind int

const (
	optFlag     optKind = iota // no value (store_true / store_false)
	optValue                   // exactly one value
	optList                    // one or more values (nargs='+')
	optOptional                // zero or one value (nargs='?')
)

// optSpec describes one command-line option.
type optSpec struct {
	name     string // "--session-id"
	kind     optKind
	choices  []string
	isInt    bool   // argparse type=int
	constVal string // value for optOptional without a value
	dest     string // key in parsed values; defaults to name
	flagVal  string // value stored by a flag ("true"/"false")
	member   *Member
	required bool
}

// parsedOpts holds the values found on the command line: the last value
// wins for repeated options (argparse "store").
type parsedOpts struct {
	values map[string][]string
	order  []string // dests in the order first seen
}

func (p *parsedOpts) set(dest string, vals []string) {
	if p.values == nil {
		p.values = map[string][]string{}
	}
	if _, ok := p.values[dest]; !ok {
		p.order = append(p.order, dest)
	}
	p.values[dest] = vals
}

func (p *parsedOpts) get(dest string) (string, bool) {
	v, ok := p.values[dest]
	if !ok || len(v) == 0 {
		return "", ok
	}
	return v[0], true
}

func (p *parsedOpts) has(dest string) bool {
	_, ok := p.values[dest]
	return ok
}

// argError is an argparse error: usage block plus "aws: error: <msg>".
type argError struct{ msg string }

func (e *argError) Error() string { return e.msg }

// unknownArgsError lists arguments no parser consumed.
type unknownArgsError struct{ args []string }

func (e *unknownArgsError) Error() string { return "Unknown options: " + strings.Join(e.args, ", ") }

// versionRequested is returned when --version was seen.
type versionRequested struct{}

func (versionRequested) Error() string { return "version requested" }

var negativeNumber = regexp.MustCompile(`^-\d+$|^-\d*\.\d+$`)

// optTable is an argparse-like parser over a set of option specs.
type optTable struct {
	specs map[string]*optSpec
	names []string // sorted option strings, for prefix matching
}

func newOptTable(specs []*optSpec) *optTable {
	t := &optTable{specs: map[string]*optSpec{}}
	for _, s := range specs {
		if s.dest == "" {
			s.dest = s.name
		}
		t.specs[s.name] = s
		t.names = append(t.names, s.name)
	}
	return t
}

// classify mirrors argparse._parse_optional: it returns the matched spec
// and an explicit "=value", ok=true for an option-looking argument (spec
// nil when unknown), ok=false for a positional.
func (t *optTable) classify(arg string) (spec *optSpec, explicit *string, isOpt bool, err error) {
	if arg == "" || arg[0] != '-' || arg == "-" {
		return nil, nil, false, nil
	}
	if s, ok := t.specs[arg]; ok {
		return s, nil, true, nil
	}
	if name, val, ok := strings.Cut(arg, "="); ok {
		if s, ok := t.specs[name]; ok {
			return s, &val, true, nil
		}
	}
	if strings.HasPrefix(arg, "--") {
		name, val, hasEq := strings.Cut(arg, "=")
		var matches []string
		for _, n := range t.names {
			if strings.HasPrefix(n, name) {
				matches = append(matches, n)
			}
		}
		if len(matches) > 1 {
			return nil, nil, true, &argError{fmt.Sprintf("ambiguous option: %s could match %s", name, strings.Join(matches, ", "))}
		}
		if len(matches) == 1 {
			s := t.specs[matches[0]]
			if hasEq {
				return s, &val, true, nil
			}
			return s, nil, true, nil
		}
	}
	if negativeNumber.MatchString(arg) {
		return nil, nil, false, nil
	}
	if strings.Contains(arg, " ") {
		return nil, nil, false, nil
	}
	return nil, nil, true, nil
}

// isOptionLike reports whether arg would be taken as an option string.
func (t *optTable) isOptionLike(arg string) bool {
	_, _, isOpt, _ := t.classify(arg)
	return isOpt
}

// parse consumes the options of t from args. Arguments it does not know
// are returned in order. onFlag is called for each option as it is parsed
// (argparse actions run in order, e.g. --version).
func (t *optTable) parse(args []string, out *parsedOpts, onOpt func(*optSpec) error) ([]string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		spec, explicit, isOpt, err := t.classify(arg)
		if err != nil {
			return nil, err
		}
		if spec == nil {
			rest = append(rest, arg)
			continue
		}
		_ = isOpt
		var vals []string
		switch spec.kind {
		case optFlag:
			if explicit != nil {
				return nil, &argError{fmt.Sprintf("argument %s: ignored explicit argument %s", spec.name, pyRepr(*explicit))}
			}
			vals = []string{spec.flagVal}
		case optValue:
			if explicit != nil {
				vals = []string{*explicit}
			} else if i+1 < len(args) && !t.isOptionLike(args[i+1]) && args[i+1] != "--" {
				vals = []string{args[i+1]}
				i++
			} else {
				return nil, &argError{fmt.Sprintf("argument %s: expected one argument", spec.name)}
			}
		case optOptional:
			if explicit != nil {
				vals = []string{*explicit}
			} else if i+1 < len(args) && !t.isOptionLike(args[i+1]) && args[i+1] != "--" {
				vals = []string{args[i+1]}
				i++
			} else {
				vals = []string{spec.constVal}
			}
		case optList:
			if explicit != nil {
				vals = []string{*explicit}
			}
			for i+1 < len(args) && !t.isOptionLike(args[i+1]) && args[i+1] != "--" {
				vals = append(vals, args[i+1])
				i++
			}
			if len(vals) == 0 {
				return nil, &argError{fmt.Sprintf("argument %s: expected at least one argument", spec.name)}
			}
		}
		if err := checkOptValues(spec, vals); err != nil {
			return nil, err
		}
		out.set(spec.dest, vals)
		if onOpt != nil {
			if err := onOpt(spec); err != nil {
				return nil, err
			}
		}
	}
	return rest, nil
}

func checkOptValues(spec *optSpec, vals []string) error {
	for _, v := range vals {
		if spec.isInt {
			if _, err := pyInt(v); err != nil {
				return &argError{fmt.Sprintf("argument %s: invalid int value: %s", spec.name, pyRepr(v))}
			}
		}
		if spec.choices != nil && !contains(spec.choices, v) && !(spec.kind == optOptional && v == spec.constVal) {
			return &argError{fmt.Sprintf("argument %s: %s", spec.name, invalidChoiceMsg(v, spec.choices))}
		}
	}
	return nil
}

// pyInt parses an integer as Python's int() does for a str.
func pyInt(s string) (int64, error) {
	t := strings.TrimSpace(s)
	t = strings.ReplaceAll(t, "_", "")
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || strings.HasPrefix(s, "_") {
		return 0, fmt.Errorf("invalid literal for int() with base 10: %s", pyRepr(s))
	}
	return n, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// invalidChoiceMsg renders awscli's invalid-choice message: choices in two
// columns padded to 40 characters, then close matches.
func invalidChoiceMsg(value string, choices []string) string {
	msg := []string{"Invalid choice, valid choices are:\n"}
	for i := 0; i < len(choices); i += 2 {
		var cur []string
		for _, c := range choices[i:min(i+2, len(choices))] {
			cur = append(cur, fmt.Sprintf("%-40s", c))
		}
		msg = append(msg, strings.Join(cur, " | "))
	}
	if possible := closeMatches(value, choices, 3, 0.8); len(possible) > 0 {
		msg = append(msg, fmt.Sprintf("\n\nInvalid choice: %s, maybe you meant:\n", pyRepr(value)))
		for _, w := range possible {
			msg = append(msg, "  * "+w)
		}
	}
	return strings.Join(msg, "\n")
}

// usageBlock is argparse's usage text as awscli formats it.
const usageBlock = "usage: aws [options] <command> <subcommand> [<subcommand> ...] [parameters]\n" +
	"To see help text, you can run:\n\n" +
	"  aws help\n" +
	"  aws <command> help\n" +
	"  aws <command> <subcommand> help\n"

// globalSpecs are the options accepted by every command.
func globalSpecs() []*optSpec {
	return []*optSpec{
		{name: "--debug", kind: optFlag, flagVal: "true"},
		{name: "--endpoint-url", kind: optValue},
		{name: "--no-verify-ssl", kind: optFlag, flagVal: "true"},
		{name: "--no-paginate", kind: optFlag, flagVal: "true"},
		{name: "--output", kind: optValue, choices: []string{"json", "text", "table", "yaml", "yaml-stream"}},
		{name: "--query", kind: optValue},
		{name: "--profile", kind: optValue},
		{name: "--region", kind: optValue},
		{name: "--version", kind: optFlag, flagVal: "true"},
		{name: "--color", kind: optValue, choices: []string{"on", "off", "auto"}},
		{name: "--no-sign-request", kind: optFlag, flagVal: "true"},
		{name: "--ca-bundle", kind: optValue},
		{name: "--cli-read-timeout", kind: optValue},
		{name: "--cli-connect-timeout", kind: optValue},
		{name: "--cli-binary-format", kind: optValue, choices: []string{"base64", "raw-in-base64-out"}},
		{name: "--no-cli-pager", kind: optFlag, flagVal: "true"},
		{name: "--cli-auto-prompt", kind: optFlag, flagVal: "true", dest: "--cli-auto-prompt"},
		{name: "--no-cli-auto-prompt", kind: optFlag, flagVal: "false", dest: "--cli-auto-prompt"},
	}
}

// operationSpecs builds the option table of an operation from its input
// shape, plus the CLI's own arguments.
func operationSpecs(op *Operation) []*optSpec {
	var specs []*optSpec
	for i := range op.Input.Members {
		m := &op.Input.Members[i]
		name := "--" + xformName(m.Name)
		req := op.Input.isRequired(m.Name)
		switch m.Shape.Type {
		case "boolean":
			specs = append(specs,
				&optSpec{name: name, kind: optFlag, flagVal: "true", dest: name, member: m, required: req},
				&optSpec{name: "--no-" + xformName(m.Name), kind: optFlag, flagVal: "false", dest: name, member: m})
		case "list":
			specs = append(specs, &optSpec{name: name, kind: optList, member: m, required: req})
		default:
			specs = append(specs, &optSpec{name: name, kind: optValue, member: m, required: req})
		}
	}
	specs = append(specs,
		&optSpec{name: "--cli-input-json", kind: optValue},
		&optSpec{name: "--cli-input-yaml", kind: optValue},
		&optSpec{name: "--generate-cli-skeleton", kind: optOptional, constVal: "input", choices: []string{"input", "output", "yaml-input"}},
	)
	if op.Pager != nil {
		specs = append(specs,
			&optSpec{name: "--starting-token", kind: optValue},
			&optSpec{name: "--page-size", kind: optValue, isInt: true},
			&optSpec{name: "--max-items", kind: optValue, isInt: true},
		)
	}
	return specs
}

// requiredOverridden mirrors OverrideRequiredArgsArgument: required
// options are not enforced when a --cli-input-* document or an input
// skeleton is requested.
func requiredOverridden(args []string) bool {
	for i, a := range args {
		switch a {
		case "--cli-input-json", "--cli-input-yaml":
			return true
		case "--generate-cli-skeleton":
			if i+1 < len(args) && args[i+1] == "output" {
				continue
			}
			return true
		}
	}
	return false
}
