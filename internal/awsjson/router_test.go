package awsjson_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/tether-ssm/tether/internal/awsjson"
)

func loadModel(t testing.TB) *awsjson.Model {
	t.Helper()
	b, err := os.ReadFile("../api/ssm-model.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := awsjson.ParseModel(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type resumeIn struct {
	SessionID string `json:"SessionId"`
}
type resumeOut struct {
	SessionID  string `json:"SessionId"`
	TokenValue string `json:"TokenValue"`
}
type describeIn struct {
	State      string
	MaxResults *int
	Filters    []struct{ Key, Value string }
}

func newRouter(t testing.TB, auth awsjson.Authenticator) *awsjson.Router {
	r := awsjson.NewRouter(loadModel(t), awsjson.Config{MaxBodyBytes: 4096}, auth, nil)
	awsjson.Handle(r, "ResumeSession", func(ctx context.Context, in *resumeIn) (*resumeOut, error) {
		if in.SessionID == "missing" {
			return nil, awsjson.Errorf(awsjson.CodeDoesNotExist, "Session with id %s does not exist.", in.SessionID)
		}
		if in.SessionID == "boom" {
			return nil, errors.New("disk on fire")
		}
		if in.SessionID == "panic" {
			panic("handler bug")
		}
		return &resumeOut{SessionID: in.SessionID, TokenValue: "tok"}, nil
	})
	awsjson.Handle(r, "DescribeSessions", func(ctx context.Context, in *describeIn) (*struct{}, error) { return nil, nil })
	awsjson.Handle(r, "StartSession", func(ctx context.Context, in *struct{}) (*struct{}, error) { return nil, nil })
	awsjson.Handle(r, "CreateActivation", func(ctx context.Context, in *struct{}) (*struct{}, error) { return nil, nil })
	return r
}

func do(t testing.TB, h http.Handler, target, ctype, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("response is not JSON: %q", rec.Body.String())
	}
	return rec.Code, m, rec.Header()
}

func TestRouter(t *testing.T) {
	t.Parallel()
	r := newRouter(t, nil)
	const ct = awsjson.ContentType
	long := strings.Repeat("x", 97)
	tests := []struct {
		name, target, ctype, body string
		status                    int
		typ, msg                  string
	}{
		{"ok", "AmazonSSM.ResumeSession", ct, `{"SessionId": "s-1"}`, 200, "", ""},
		{"ok any whitespace and order", "AmazonSSM.ResumeSession", ct + "; charset=utf-8", "{ \n\"Extra\":1,\"SessionId\":\"s-1\"}", 200, "", ""},
		{"unknown op", "AmazonSSM.Frobnicate", ct, `{}`, 400, "UnknownOperationException", ""},
		{"wrong prefix", "AmazonEC2.ResumeSession", ct, `{}`, 400, "UnknownOperationException", ""},
		{"no target", "", ct, `{}`, 400, "UnknownOperationException", ""},
		{"content type", "AmazonSSM.ResumeSession", "application/json", `{"SessionId": "s"}`, 400, "SerializationException", ""},
		{"malformed", "AmazonSSM.ResumeSession", ct, `{"SessionId": `, 400, "SerializationException", ""},
		{"not object", "AmazonSSM.ResumeSession", ct, `[1]`, 400, "SerializationException", ""},
		{"trailing data", "AmazonSSM.ResumeSession", ct, `{} {}`, 400, "SerializationException", ""},
		{"wrong type", "AmazonSSM.ResumeSession", ct, `{"SessionId": 5}`, 400, "SerializationException", ""},
		{"wrong type int", "AmazonSSM.DescribeSessions", ct, `{"State": "Active", "MaxResults": "5"}`, 400, "SerializationException", ""},
		{"fraction int", "AmazonSSM.DescribeSessions", ct, `{"State": "Active", "MaxResults": 1.5}`, 400, "SerializationException", ""},
		{"required", "AmazonSSM.ResumeSession", ct, `{}`, 400, "ValidationException",
			"1 validation error detected: Value null at 'sessionId' failed to satisfy constraint: Member must not be null"},
		{"required null", "AmazonSSM.ResumeSession", ct, `{"SessionId": null}`, 400, "ValidationException",
			"1 validation error detected: Value null at 'sessionId' failed to satisfy constraint: Member must not be null"},
		{"empty body", "AmazonSSM.ResumeSession", ct, ``, 400, "ValidationException", ""},
		{"max length", "AmazonSSM.ResumeSession", ct, `{"SessionId": "` + long + `"}`, 400, "ValidationException",
			"1 validation error detected: Value '" + long + "' at 'sessionId' failed to satisfy constraint: Member must have length less than or equal to 96"},
		{"min length", "AmazonSSM.ResumeSession", ct, `{"SessionId": ""}`, 400, "ValidationException",
			"1 validation error detected: Value '' at 'sessionId' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"enum and range", "AmazonSSM.DescribeSessions", ct, `{"State": "Bogus", "MaxResults": 201}`, 400, "ValidationException",
			"2 validation errors detected: Value '201' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 200; " +
				"Value 'Bogus' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [Active, History]"},
		{"nested list", "AmazonSSM.DescribeSessions", ct, `{"State": "Active", "Filters": [{"key": "Target", "value": "i-1"}, {"key": "Nope"}]}`, 400, "ValidationException",
			"2 validation errors detected: Value 'Nope' at 'filters.2.member.key' failed to satisfy constraint: Member must satisfy enum value set: [InvokedAfter, InvokedBefore, Target, Owner, Status, SessionId, AccessType]; " +
				"Value null at 'filters.2.member.value' failed to satisfy constraint: Member must not be null"},
		{"pattern", "AmazonSSM.StartSession", ct, `{"Target": "i-1", "DocumentName": "bad name!"}`, 400, "ValidationException",
			`1 validation error detected: Value 'bad name!' at 'documentName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_\-.:/]{3,128}$`},
		{"map value", "AmazonSSM.StartSession", ct, `{"Target": "i-1", "Parameters": {"k": [""]}}`, 400, "ValidationException", ""},
		{"lookahead pattern", "AmazonSSM.CreateActivation", ct, `{"IamRole": "r", "RegistrationMetadata": [{"Key": "  ", "Value": "v"}]}`, 400, "ValidationException",
			`1 validation error detected: Value '  ' at 'registrationMetadata.1.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(?!\s*$).+`},
		{"modelled error", "AmazonSSM.ResumeSession", ct, `{"SessionId": "missing"}`, 400, "DoesNotExistException", "Session with id missing does not exist."},
		{"internal error", "AmazonSSM.ResumeSession", ct, `{"SessionId": "boom"}`, 500, "InternalServerError", "An error occurred on the server side."},
		{"handler panic", "AmazonSSM.ResumeSession", ct, `{"SessionId": "panic"}`, 500, "InternalServerError", "An error occurred on the server side."},
		{"too large", "AmazonSSM.ResumeSession", ct, `{"SessionId": "` + strings.Repeat("a", 5000) + `"}`, 413, "RequestEntityTooLargeException", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, body, hdr := do(t, r, tc.target, tc.ctype, tc.body)
			if status != tc.status {
				t.Errorf("status = %d, want %d (body %v)", status, tc.status, body)
			}
			if got := hdr.Get("x-amzn-RequestId"); len(got) != 36 {
				t.Errorf("x-amzn-RequestId = %q", got)
			}
			if hdr.Get("Content-Type") != awsjson.ContentType {
				t.Errorf("Content-Type = %q", hdr.Get("Content-Type"))
			}
			if tc.typ == "" {
				if body["SessionId"] != "s-1" {
					t.Errorf("body = %v", body)
				}
				return
			}
			if body["__type"] != tc.typ {
				t.Errorf("__type = %v, want %s (body %v)", body["__type"], tc.typ, body)
			}
			msg, _ := body["Message"].(string)
			if m, ok := body["message"].(string); ok {
				msg = m
			}
			if msg == "" {
				t.Errorf("no message in %v", body)
			}
			if tc.msg != "" && msg != tc.msg {
				t.Errorf("message:\n got %s\nwant %s", msg, tc.msg)
			}
		})
	}
}

func TestRouterAuthRunsFirst(t *testing.T) {
	t.Parallel()
	r := newRouter(t, func(r *http.Request, body []byte) (context.Context, error) {
		return nil, awsjson.NewError(awsjson.CodeMissingAuthToken)
	})
	status, body, _ := do(t, r, "AmazonSSM.Nope", awsjson.ContentType, `{}`)
	if status != 400 || body["__type"] != "MissingAuthenticationTokenException" {
		t.Fatalf("got %d %v", status, body)
	}
}

func TestTime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, out string }{
		{"1541538301.214", "1541538301.214"},
		{"1541538000", "1541538000"},
		{`"2018-11-06T21:05:01Z"`, "1541538301"},
	} {
		var tm awsjson.Time
		if err := json.Unmarshal([]byte(tc.in), &tm); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		b, _ := json.Marshal(tm)
		if string(b) != tc.out {
			t.Errorf("%s → %s, want %s", tc.in, b, tc.out)
		}
	}
}

// FuzzDecode feeds arbitrary bodies to the router: every answer must be a
// well-formed AWS JSON response, never a panic.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"SessionId": "s-1"}`, `{}`, ``, `{"State": "Active", "MaxResults": 5, "Filters": [{"key": "Target", "value": "i-1"}]}`,
		`{"Target": "i-1", "Parameters": {"portNumber": ["80"]}}`, `{"SessionId": 1e400}`, `[`, `{"a":{"b":[[[]]]}}`, "\xff",
	} {
		f.Add("ResumeSession", s)
		f.Add("DescribeSessions", s)
		f.Add("StartSession", s)
	}
	r := newRouter(f, nil)
	f.Fuzz(func(t *testing.T, op, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "AmazonSSM."+op)
		req.Header.Set("Content-Type", awsjson.ContentType)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("response not JSON: %q", rec.Body.String())
		}
		if rec.Code != 200 && m["__type"] == nil {
			t.Fatalf("error without __type: %d %v", rec.Code, m)
		}
		if rec.Code == 500 && !strings.Contains(body, "boom") && !strings.Contains(body, "panic") { // the test handler's faults
			t.Fatalf("internal error for %q: %v", body, m)
		}
	})
}
