package ssmcli

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// modelJSON is the subset of botocore's ssm/2014-11-06 service model
// (as vendored in Debian awscli 2.9.19) covering the nine operations this
// package implements. Member "overview" strings are the first sentence of
// the member documentation, as awscli computes it for yaml-input skeletons.
//
//go:embed model/ssm.json
var modelJSON []byte

// Shape is one shape of the service model.
type Shape struct {
	Name     string
	Type     string // structure, list, map, string, integer, boolean, timestamp, ...
	Required []string
	Members  []Member // structure members in model order
	Member   *Shape   // list element
	Key      *Shape   // map key
	Value    *Shape   // map value
	Enum     []string
	Min      *float64
	Max      *float64
}

// Member is a structure member.
type Member struct {
	Name     string
	Shape    *Shape
	Overview string
}

// Operation is one API operation.
type Operation struct {
	Name    string
	CLIName string
	Input   *Shape
	Output  *Shape
	Pager   *Paginator
}

// Paginator is the botocore paginator config of an operation.
type Paginator struct {
	InputToken  string
	OutputToken string
	LimitKey    string
	ResultKey   string
}

// Model is the parsed service model.
type Model struct {
	TargetPrefix  string
	Ops           map[string]*Operation // by CLI name
	AllOperations []string              // every SSM operation, CLI names, model order
}

type rawShape struct {
	Type     string   `json:"type"`
	Required []string `json:"required"`
	Members  rawMembers
	Member   *struct{ Shape string } `json:"member"`
	Key      *struct{ Shape string } `json:"key"`
	Value    *struct{ Shape string } `json:"value"`
	Enum     []string                `json:"enum"`
	Min      *float64                `json:"min"`
	Max      *float64                `json:"max"`
}

type rawMember struct {
	Name     string
	Shape    string `json:"shape"`
	Overview string `json:"overview"`
}

// rawMembers keeps the JSON member order.
type rawMembers []rawMember

func (r *rawMembers) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if _, err := dec.Token(); err != nil {
		return err
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		var m rawMember
		if err := dec.Decode(&m); err != nil {
			return err
		}
		m.Name = t.(string)
		*r = append(*r, m)
	}
	return nil
}

type rawModel struct {
	Metadata struct {
		TargetPrefix string `json:"targetPrefix"`
	} `json:"metadata"`
	Operations map[string]struct {
		Input  struct{ Shape string } `json:"input"`
		Output struct{ Shape string } `json:"output"`
	} `json:"operations"`
	Shapes     map[string]json.RawMessage `json:"shapes"`
	Paginators map[string]struct {
		InputToken  string `json:"input_token"`
		OutputToken string `json:"output_token"`
		LimitKey    string `json:"limit_key"`
		ResultKey   string `json:"result_key"`
	} `json:"paginators"`
	AllOperations []string `json:"allOperations"`
}

// loadModel parses the embedded service model.
func loadModel() (*Model, error) {
	var raw rawModel
	if err := json.Unmarshal(modelJSON, &raw); err != nil {
		return nil, fmt.Errorf("parse model: %w", err)
	}
	shapes := map[string]*Shape{}
	var resolve func(name string) (*Shape, error)
	resolve = func(name string) (*Shape, error) {
		if s, ok := shapes[name]; ok {
			return s, nil
		}
		msg, ok := raw.Shapes[name]
		if !ok {
			return nil, fmt.Errorf("model: unknown shape %q", name)
		}
		var rs rawShape
		if err := json.Unmarshal(msg, &rs); err != nil {
			return nil, fmt.Errorf("model: shape %s: %w", name, err)
		}
		var mem struct {
			Members rawMembers `json:"members"`
		}
		if err := json.Unmarshal(msg, &mem); err != nil {
			return nil, fmt.Errorf("model: shape %s: %w", name, err)
		}
		s := &Shape{Name: name, Type: rs.Type, Required: rs.Required, Enum: rs.Enum, Min: rs.Min, Max: rs.Max}
		shapes[name] = s
		var err error
		for _, m := range mem.Members {
			ms, e := resolve(m.Shape)
			if e != nil {
				return nil, e
			}
			s.Members = append(s.Members, Member{Name: m.Name, Shape: ms, Overview: m.Overview})
		}
		if rs.Member != nil {
			if s.Member, err = resolve(rs.Member.Shape); err != nil {
				return nil, err
			}
		}
		if rs.Key != nil {
			if s.Key, err = resolve(rs.Key.Shape); err != nil {
				return nil, err
			}
		}
		if rs.Value != nil {
			if s.Value, err = resolve(rs.Value.Shape); err != nil {
				return nil, err
			}
		}
		return s, nil
	}
	m := &Model{TargetPrefix: raw.Metadata.TargetPrefix, Ops: map[string]*Operation{}}
	for name, op := range raw.Operations {
		in, err := resolve(op.Input.Shape)
		if err != nil {
			return nil, err
		}
		out, err := resolve(op.Output.Shape)
		if err != nil {
			return nil, err
		}
		o := &Operation{Name: name, CLIName: xformName(name), Input: in, Output: out}
		if p, ok := raw.Paginators[name]; ok {
			o.Pager = &Paginator{InputToken: p.InputToken, OutputToken: p.OutputToken, LimitKey: p.LimitKey, ResultKey: p.ResultKey}
		}
		m.Ops[o.CLIName] = o
	}
	for _, n := range raw.AllOperations {
		m.AllOperations = append(m.AllOperations, xformName(n))
	}
	return m, nil
}

// member returns the named member of a structure, or nil.
func (s *Shape) member(name string) *Member {
	for i := range s.Members {
		if s.Members[i].Name == name {
			return &s.Members[i]
		}
	}
	return nil
}

func (s *Shape) isRequired(name string) bool {
	for _, r := range s.Required {
		if r == name {
			return true
		}
	}
	return false
}

var (
	xformFirstCap = regexp.MustCompile(`(.)([A-Z][a-z]+)`)
	xformEndCap   = regexp.MustCompile(`([a-z0-9])([A-Z])`)
	xformSpecial  = regexp.MustCompile(`[A-Z]{2,}s$`)
)

// xformName converts a CamelCase model name to the CLI's dashed form
// (botocore.xform_name with "-").
func xformName(name string) string {
	if strings.Contains(name, "-") {
		return name
	}
	if m := xformSpecial.FindStringIndex(name); m != nil {
		matched := name[m[0]:m[1]]
		name = name[:m[0]] + "-" + strings.ToLower(matched)
	}
	s1 := xformFirstCap.ReplaceAllString(name, "${1}-${2}")
	return strings.ToLower(xformEndCap.ReplaceAllString(s1, "${1}-${2}"))
}
