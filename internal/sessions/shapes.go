package sessions

import (
	"strconv"

	"github.com/tether-ssm/tether/internal/awsjson"
	"github.com/tether-ssm/tether/internal/store"
)

// The request and response shapes of the session operations, as in the SSM
// model (ssm-api.md §5, §6). Member names are AWS's.

// StartSessionInput is StartSessionRequest.
type StartSessionInput struct {
	Target       string              `json:"Target"`
	DocumentName string              `json:"DocumentName"`
	Reason       string              `json:"Reason"`
	Parameters   map[string][]string `json:"Parameters"`
}

// SessionOutput is StartSessionResponse and ResumeSessionResponse.
type SessionOutput struct {
	SessionID  string `json:"SessionId"`
	TokenValue string `json:"TokenValue"`
	StreamURL  string `json:"StreamUrl"`
}

// SessionIDInput is ResumeSessionRequest and TerminateSessionRequest.
type SessionIDInput struct {
	SessionID string `json:"SessionId"`
}

// TerminateSessionOutput is TerminateSessionResponse.
type TerminateSessionOutput struct {
	SessionID string `json:"SessionId"`
}

// DescribeSessionsInput is DescribeSessionsRequest.
type DescribeSessionsInput struct {
	State      string          `json:"State"`
	MaxResults *int            `json:"MaxResults"`
	NextToken  string          `json:"NextToken"`
	Filters    []SessionFilter `json:"Filters"`
}

// SessionFilter is SessionFilter (note the lower-case member names).
type SessionFilter struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// DescribeSessionsOutput is DescribeSessionsResponse.
type DescribeSessionsOutput struct {
	Sessions  []Session `json:"Sessions"`
	NextToken string    `json:"NextToken,omitempty"`
}

// Session is the Session shape, members in model order.
type Session struct {
	SessionID          string         `json:"SessionId"`
	Target             string         `json:"Target"`
	Status             string         `json:"Status"`
	StartDate          *awsjson.Time  `json:"StartDate,omitempty"`
	EndDate            *awsjson.Time  `json:"EndDate,omitempty"`
	DocumentName       string         `json:"DocumentName,omitempty"`
	Owner              string         `json:"Owner,omitempty"`
	Reason             string         `json:"Reason,omitempty"`
	Details            string         `json:"Details,omitempty"`
	OutputURL          *SessionOutURL `json:"OutputUrl"`
	MaxSessionDuration string         `json:"MaxSessionDuration,omitempty"`
	AccessType         string         `json:"AccessType,omitempty"`
}

// SessionOutURL is SessionManagerOutputUrl ("reserved for future use"; Tether
// sends empty strings, as AWS does for sessions without logging).
type SessionOutURL struct {
	S3OutputURL         string `json:"S3OutputUrl"`
	CloudWatchOutputURL string `json:"CloudWatchOutputUrl"`
}

// AccessTypeStandard is the only access type Tether has.
const AccessTypeStandard = "Standard"

// toShape renders a stored session.
func toShape(s store.Session) Session {
	out := Session{
		SessionID: s.ID, Target: s.Target, Status: string(s.Status),
		StartDate: awsjson.NewTime(s.StartDate), EndDate: awsjson.NewTime(s.EndDate),
		DocumentName: s.DocumentName, Owner: s.Owner, Reason: s.Reason, Details: s.Details,
		OutputURL: &SessionOutURL{}, AccessType: AccessTypeStandard,
	}
	if s.MaxSessionDuration > 0 {
		out.MaxSessionDuration = strconv.Itoa(s.MaxSessionDuration)
	}
	return out
}
