package sessions

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tether-ssm/tether/internal/auth"
	"github.com/tether-ssm/tether/internal/awsjson"
	"github.com/tether-ssm/tether/internal/store"
)

// pagePurpose binds DescribeSessions page tokens (token.Codec.SealValue).
const pagePurpose = "tether-describe-sessions-page"

// pageToken is the sealed content of a DescribeSessions NextToken.
type pageToken struct {
	Query  string `json:"q"` // fingerprint of the request it continues
	Start  int64  `json:"t"` // cursor StartDate, unix ms
	ID     string `json:"i"` // cursor ID
	Expiry int64  `json:"e"` // unix seconds
}

// DescribeSessions lists active sessions or the history of ended ones.
func (s *Service) DescribeSessions(ctx context.Context, p *auth.Principal, in *DescribeSessionsInput) (*DescribeSessionsOutput, error) {
	q, none, err := s.query(in)
	if err != nil {
		return nil, err
	}
	fp := fingerprint(p, in)
	if in.NextToken != "" {
		c, err := s.openPage(in.NextToken, fp)
		if err != nil {
			return nil, err
		}
		q.After = c
	}
	out := &DescribeSessionsOutput{Sessions: []Session{}}
	if none {
		return out, nil
	}
	limit := s.cfg.DefaultPageSize
	if in.MaxResults != nil {
		limit = *in.MaxResults
	}
	q.Limit = limit + 1
	if q.History {
		s.sweepIfDue(ctx)
	}
	list, err := s.store.ListSessions(ctx, q)
	if err != nil {
		return nil, awsjson.Internal(fmt.Errorf("describe sessions: %w", err))
	}
	if len(list) > limit {
		last := list[limit-1]
		list = list[:limit]
		out.NextToken = s.sealPage(fp, last)
	}
	for _, x := range list {
		out.Sessions = append(out.Sessions, toShape(x))
	}
	return out, nil
}

// query translates State and Filters. none reports a filter that no Tether
// session can match (AccessType JustInTime).
func (s *Service) query(in *DescribeSessionsInput) (q store.SessionQuery, none bool, err error) {
	q.History = in.State == "History"
	seen := map[string]bool{}
	for i, f := range in.Filters {
		if seen[f.Key] {
			return q, false, awsjson.Errorf(awsjson.CodeInvalidFilterKey, "The filter key %s is specified more than once.", f.Key)
		}
		seen[f.Key] = true
		bad := func(what string) error {
			return awsjson.ValidationError([]awsjson.Violation{{Path: fmt.Sprintf("filters.%d.member.value", i+1),
				Value: "'" + f.Value + "'", Constraint: what}})
		}
		switch f.Key {
		case "InvokedAfter", "InvokedBefore":
			t, err := awsjson.ParseTimestamp(f.Value)
			if err != nil {
				return q, false, bad("Member must be a timestamp such as 2018-08-29T00:00:00Z")
			}
			if f.Key == "InvokedAfter" {
				q.InvokedAfter = t
			} else {
				q.InvokedBefore = t
			}
		case "Target":
			q.Target = f.Value
		case "Owner":
			q.Owner = f.Value
		case "Status":
			st := store.SessionStatus(f.Value)
			if !st.Valid() {
				return q, false, bad("Member must satisfy enum value set: [Connected, Connecting, Disconnected, Terminated, Terminating, Failed]")
			}
			q.Status = st
		case "SessionId":
			q.SessionID = f.Value
		case "AccessType":
			switch f.Value {
			case AccessTypeStandard:
			case "JustInTime":
				none = true
			default:
				return q, false, bad("Member must satisfy enum value set: [Standard, JustInTime]")
			}
		default:
			return q, false, awsjson.Errorf(awsjson.CodeInvalidFilterKey, "The filter key %s isn't valid.", f.Key)
		}
	}
	return q, none, nil
}

// fingerprint identifies the listing a page token belongs to: the caller,
// the state and the filters (in any order); MaxResults may change per page.
func fingerprint(p *auth.Principal, in *DescribeSessionsInput) string {
	fs := make([]string, len(in.Filters))
	for i, f := range in.Filters {
		fs[i] = f.Key + "=" + f.Value
	}
	sort.Strings(fs)
	h := sha256.Sum256([]byte(p.ARN + "\x00" + in.State + "\x00" + strings.Join(fs, "\x00")))
	return fmt.Sprintf("%x", h[:12])
}

func (s *Service) sealPage(fp string, last store.Session) string {
	b, _ := json.Marshal(pageToken{Query: fp, Start: last.StartDate.UnixMilli(), ID: last.ID,
		Expiry: s.cfg.Now().Add(s.cfg.PageTokenTTL).Unix()}) // plain struct: cannot fail
	return s.tokens.SealValue(pagePurpose, b)
}

func (s *Service) openPage(tok, fp string) (*store.SessionCursor, error) {
	invalid := awsjson.Errorf(awsjson.CodeInvalidNextToken, "The specified token isn't valid.")
	b, err := s.tokens.OpenValue(pagePurpose, tok)
	if err != nil {
		return nil, invalid
	}
	var pt pageToken
	if err := json.Unmarshal(b, &pt); err != nil || pt.Query != fp {
		return nil, invalid
	}
	if s.cfg.Now().Unix() >= pt.Expiry {
		return nil, awsjson.Errorf(awsjson.CodeInvalidNextToken, "The specified token has expired.")
	}
	return &store.SessionCursor{StartDate: time.UnixMilli(pt.Start).UTC(), ID: pt.ID}, nil
}
