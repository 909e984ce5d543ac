package nodes

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/tether-ssm/tether/internal/awsjson"
	"github.com/tether-ssm/tether/internal/store"
)

// Page sizes when MaxResults is not given (the model's maxima).
const (
	defaultActivationPage = 50
	defaultInstancePage   = 50
	batch                 = 100 // store rows read per round while filtering
)

type pageToken struct {
	Query  string `json:"q"`
	After  string `json:"a"`
	Expiry int64  `json:"e"`
}

func (s *Service) sealPage(purpose, fp, after string) string {
	b, _ := json.Marshal(pageToken{Query: fp, After: after, Expiry: s.cfg.Now().Add(s.cfg.PageTokenTTL).Unix()})
	return s.tokens.SealValue(purpose, b)
}

func (s *Service) openPage(purpose, tok, fp string) (string, error) {
	b, err := s.tokens.OpenValue(purpose, tok)
	var pt pageToken
	if err != nil || json.Unmarshal(b, &pt) != nil || pt.Query != fp {
		return "", awsjson.Errorf(awsjson.CodeInvalidNextToken, "The specified token isn't valid.")
	}
	if s.cfg.Now().Unix() >= pt.Expiry {
		return "", awsjson.Errorf(awsjson.CodeInvalidNextToken, "The specified token has expired.")
	}
	return pt.After, nil
}

func fingerprint(v any) string {
	b, _ := json.Marshal(v)
	h := sha256.Sum256(b)
	return fmt.Sprintf("%x", h[:12])
}

// paginate reads items after `after` in batches, keeps those that match,
// and stops at limit. It returns the page and the id to continue after
// (empty when the listing is exhausted).
func paginate[T any](ctx context.Context, after string, limit int, fetch func(ctx context.Context, after string, n int) ([]T, error),
	id func(T) string, match func(T) bool) ([]T, string, error) {
	var page []T
	for {
		items, err := fetch(ctx, after, batch)
		if err != nil {
			return nil, "", err
		}
		for _, it := range items {
			if !match(it) {
				continue
			}
			if len(page) == limit { // a further match exists: there is a next page
				return page, id(page[len(page)-1]), nil
			}
			page = append(page, it)
		}
		if len(items) < batch {
			return page, "", nil
		}
		after = id(items[len(items)-1])
	}
}

// DescribeActivations lists activations.
func (s *Service) DescribeActivations(ctx context.Context, in *DescribeActivationsInput) (*DescribeActivationsOutput, error) {
	const purpose = "tether-describe-activations-page"
	var ids []string
	sets := map[string]map[string]bool{}
	for _, f := range in.Filters {
		switch f.FilterKey {
		case "ActivationIds":
			ids = append(ids, f.FilterValues...)
		case "DefaultInstanceName", "IamRole":
			if sets[f.FilterKey] == nil {
				sets[f.FilterKey] = map[string]bool{}
			}
			for _, v := range f.FilterValues {
				sets[f.FilterKey][v] = true
			}
		default:
			return nil, awsjson.Errorf(awsjson.CodeInvalidFilter, "The filter key %s isn't valid.", f.FilterKey)
		}
	}
	fp := fingerprint(in.Filters)
	after := ""
	if in.NextToken != "" {
		var err error
		if after, err = s.openPage(purpose, in.NextToken, fp); err != nil {
			return nil, err
		}
	}
	limit := defaultActivationPage
	if in.MaxResults != nil {
		limit = *in.MaxResults
	}
	match := func(a store.Activation) bool {
		if set := sets["DefaultInstanceName"]; set != nil && !set[a.DefaultInstanceName] {
			return false
		}
		if set := sets["IamRole"]; set != nil && !set[a.IamRole] {
			return false
		}
		return true
	}
	fetch := func(ctx context.Context, after string, n int) ([]store.Activation, error) {
		return s.store.ListActivations(ctx, store.ActivationQuery{IDs: ids, AfterID: after, Limit: n})
	}
	list, next, err := paginate(ctx, after, limit, fetch, func(a store.Activation) string { return a.ID }, match)
	if err != nil {
		return nil, awsjson.Internal(fmt.Errorf("describe activations: %w", err))
	}
	out := &DescribeActivationsOutput{ActivationList: []Activation{}}
	now := s.cfg.Now()
	for _, a := range list {
		out.ActivationList = append(out.ActivationList, Activation{
			ActivationID: a.ID, Description: a.Description, DefaultInstanceName: a.DefaultInstanceName, IamRole: a.IamRole,
			RegistrationLimit: a.RegistrationLimit, RegistrationsCount: a.RegistrationsCount,
			ExpirationDate: awsjson.NewTime(a.ExpirationDate), Expired: a.Expired(now), CreatedDate: awsjson.NewTime(a.CreatedDate),
			Tags: tagList(a.Tags),
		})
	}
	if next != "" {
		out.NextToken = s.sealPage(purpose, fp, next)
	}
	return out, nil
}

func tagList(m map[string]string) []Tag {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Tag, len(keys))
	for i, k := range keys {
		out[i] = Tag{Key: k, Value: m[k]}
	}
	return out
}

var instanceIDRE = regexp.MustCompile(`^(i-(\w{8}|\w{17})|mi-\w{17})$`)

// instanceFilter is one condition of DescribeInstanceInformation.
type instanceFilter struct {
	key    string
	values map[string]bool
}

// DescribeInstanceInformation lists managed nodes with their status.
func (s *Service) DescribeInstanceInformation(ctx context.Context, in *DescribeInstanceInformationInput) (*DescribeInstanceInformationOutput, error) {
	const purpose = "tether-describe-instances-page"
	var filters []instanceFilter
	var ids []string
	add := func(key string, values []string) error {
		f := instanceFilter{key: key, values: map[string]bool{}}
		for _, v := range values {
			f.values[v] = true
		}
		switch {
		case key == "InstanceIds":
			for _, v := range values {
				if !instanceIDRE.MatchString(v) {
					return awsjson.Errorf(awsjson.CodeInvalidInstanceID, "Instance id %s is not valid.", v)
				}
			}
			ids = append(ids, values...)
		case key == "PingStatus":
			if err := oneOf(values, "Online", "ConnectionLost", "Inactive"); err != nil {
				return err
			}
		case key == "PlatformTypes":
			if err := oneOf(values, "Windows", "Linux", "MacOS"); err != nil {
				return err
			}
		case key == "ResourceType":
			if err := oneOf(values, "ManagedInstance", "EC2Instance"); err != nil {
				return err
			}
		case key == "AgentVersion", key == "ActivationIds", key == "IamRole", key == "AssociationStatus", key == "tag-key",
			strings.HasPrefix(key, "tag:") && len(key) > 4:
		default:
			return awsjson.Errorf(awsjson.CodeInvalidFilterKey, "The filter key %s isn't valid.", key)
		}
		filters = append(filters, f)
		return nil
	}
	for _, f := range in.InstanceInformationFilterList {
		if err := add(f.Key, f.ValueSet); err != nil {
			return nil, err
		}
	}
	for _, f := range in.Filters {
		if err := add(f.Key, f.Values); err != nil {
			return nil, err
		}
	}
	fp := fingerprint([]any{in.InstanceInformationFilterList, in.Filters})
	after := ""
	if in.NextToken != "" {
		var err error
		if after, err = s.openPage(purpose, in.NextToken, fp); err != nil {
			return nil, err
		}
	}
	limit := defaultInstancePage
	if in.MaxResults != nil {
		limit = *in.MaxResults
	}
	fetch := func(ctx context.Context, after string, n int) ([]store.Node, error) {
		return s.store.ListNodes(ctx, store.NodeQuery{IDs: ids, AfterID: after, Limit: n})
	}
	match := func(n store.Node) bool {
		info := s.info(n)
		for _, f := range filters {
			if !f.matches(n, info) {
				return false
			}
		}
		return true
	}
	list, next, err := paginate(ctx, after, limit, fetch, func(n store.Node) string { return n.ID }, match)
	if err != nil {
		return nil, awsjson.Internal(fmt.Errorf("describe instance information: %w", err))
	}
	out := &DescribeInstanceInformationOutput{InstanceInformationList: []InstanceInformation{}}
	for _, n := range list {
		out.InstanceInformationList = append(out.InstanceInformationList, s.info(n))
	}
	if next != "" {
		out.NextToken = s.sealPage(purpose, fp, next)
	}
	return out, nil
}

func oneOf(values []string, allowed ...string) error {
	for _, v := range values {
		ok := false
		for _, a := range allowed {
			ok = ok || v == a
		}
		if !ok {
			return awsjson.Errorf(awsjson.CodeInvalidInstanceInfoVal, "The filter value %s isn't valid; valid values are %s.", v, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func (f instanceFilter) matches(n store.Node, info InstanceInformation) bool {
	switch {
	case f.key == "InstanceIds":
		return f.values[n.ID]
	case f.key == "AgentVersion":
		return f.values[n.AgentVersion]
	case f.key == "PingStatus":
		return f.values[info.PingStatus]
	case f.key == "PlatformTypes":
		return f.values[n.PlatformType]
	case f.key == "ActivationIds":
		return f.values[n.ActivationID]
	case f.key == "IamRole":
		return f.values[n.IamRole]
	case f.key == "ResourceType":
		return f.values[info.ResourceType]
	case f.key == "AssociationStatus":
		return false // Tether has no associations
	case f.key == "tag-key":
		for k := range n.Tags {
			if f.values[k] {
				return true
			}
		}
		return false
	case strings.HasPrefix(f.key, "tag:"):
		v, ok := n.Tags[f.key[4:]]
		return ok && f.values[v]
	}
	return false
}

// info renders a node with its live ping status.
func (s *Service) info(n store.Node) InstanceInformation {
	ping := "ConnectionLost"
	if s.presence.Connected(n.ID) {
		ping = "Online"
	}
	return InstanceInformation{
		InstanceID: n.ID, PingStatus: ping, LastPingDateTime: awsjson.NewTime(n.LastPing), AgentVersion: n.AgentVersion,
		IsLatestVersion: true, PlatformType: n.PlatformType, PlatformName: n.PlatformName, PlatformVersion: n.PlatformVersion,
		ActivationID: n.ActivationID, IamRole: n.IamRole, RegistrationDate: awsjson.NewTime(n.RegistrationDate),
		ResourceType: "ManagedInstance", Name: n.Name, IPAddress: n.IPAddress, ComputerName: n.ComputerName,
	}
}
