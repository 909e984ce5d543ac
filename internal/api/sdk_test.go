package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/tether-ssm/tether/internal/store"
	"github.com/tether-ssm/tether/internal/token"
)

// TestBoto3 drives every operation and error through boto3 (each Python with
// boto3 installed: Debian's 1.26 and pip's 1.43 when present).
func TestBoto3(t *testing.T) {
	t.Parallel()
	c := findClients()
	if len(c.pythons) == 0 {
		t.Skip("boto3 not installed (apt-get install python3-boto3)")
	}
	srv := startServer(t, "", "")
	st := seedStore(t, srv)
	active := seedSessions(t, st, "Mary-Major", maryARN, 2, store.StatusConnected)
	johns := seedSessions(t, st, "John", johnARN, 1, store.StatusConnected)
	const patARN = "arn:aws:iam::" + account + ":user/Pat"
	seedSessions(t, st, "Pat", patARN, 5, store.StatusConnected)
	node := seedNode(t, st)
	mary := []string{maryKey, marySecret}
	type call struct {
		Op       string         `json:"op"`
		Args     map[string]any `json:"args"`
		Creds    []string       `json:"creds"`
		Paginate int            `json:"paginate,omitempty"`
		Unsigned bool           `json:"unsigned,omitempty"`
		Skew     int            `json:"skew,omitempty"`
	}
	calls := []call{
		{"resume_session", map[string]any{"SessionId": active[0]}, mary, 0, false, 0},
		{"terminate_session", map[string]any{"SessionId": active[1]}, mary, 0, false, 0},
		{"describe_sessions", map[string]any{"State": "Active", "Filters": []map[string]string{{"key": "Owner", "value": patARN}}}, mary, 2, false, 0},
		{"get_connection_status", map[string]any{"Target": node}, mary, 0, false, 0},
		{"create_activation", map[string]any{"IamRole": "SSMRole"}, mary, 0, false, 0},
		{"describe_activations", map[string]any{}, mary, 0, false, 0},
		{"describe_instance_information", map[string]any{}, mary, 0, false, 0},
		{"start_session", map[string]any{"Target": node}, mary, 0, false, 0},
		{"start_session", map[string]any{"Target": node, "DocumentName": "AWS-Nope"}, mary, 0, false, 0},
		{"resume_session", map[string]any{"SessionId": "Mary-Major-nope"}, mary, 0, false, 0},
		{"resume_session", map[string]any{"SessionId": johns[0]}, mary, 0, false, 0},
		{"describe_sessions", map[string]any{"State": "Active", "NextToken": "page2"}, mary, 0, false, 0},
		{"describe_sessions", map[string]any{"State": "Active", "Filters": []map[string]string{{"key": "Target", "value": "a"}, {"key": "Target", "value": "b"}}}, mary, 0, false, 0},
		{"describe_sessions", map[string]any{"State": "Bogus"}, mary, 0, false, 0},
		{"delete_activation", map[string]any{"ActivationId": "00000000-0000-4000-8000-000000000000"}, mary, 0, false, 0},
		{"get_connection_status", map[string]any{"Target": "i-1"}, []string{"AKIDNOBODY", "x"}, 0, false, 0},
		{"get_connection_status", map[string]any{"Target": "i-1"}, []string{maryKey, "wrong"}, 0, false, 0},
		{"get_connection_status", map[string]any{"Target": "i-1"}, []string{tempKey, secret, tempToken}, 0, false, 0},
		{"terminate_session", map[string]any{"SessionId": johns[0]}, mary, 0, false, 0},
		{"create_activation", map[string]any{"IamRole": "r", "ExpirationDate": "2020-01-01T00:00:00Z"}, mary, 0, false, 0},
		{"delete_activation", map[string]any{"ActivationId": "nope"}, mary, 0, false, 0},
		{"describe_activations", map[string]any{"NextToken": "nope"}, mary, 0, false, 0},
		{"describe_instance_information", map[string]any{"Filters": []map[string]any{{"Key": "Colour", "Values": []string{"red"}}}}, mary, 0, false, 0},
		{"describe_instance_information", map[string]any{"Filters": []map[string]any{{"Key": "PingStatus", "Values": []string{"Asleep"}}}}, mary, 0, false, 0},
		{"describe_instance_information", map[string]any{"InstanceInformationFilterList": []map[string]any{{"key": "InstanceIds", "valueSet": []string{"x-1"}}}}, mary, 0, false, 0},
		{"get_connection_status", map[string]any{"Target": "i-1"}, mary, 0, true, 0},
		{"get_connection_status", map[string]any{"Target": "i-1"}, mary, 0, false, -600}, // last: the skew stays
	}
	type result struct {
		OK    map[string]any `json:"ok"`
		Error *struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
			Class     string `json:"class"`
			Status    int    `json:"status"`
		} `json:"error"`
	}
	wantErr := []string{"", "", "", "", "", "", "", "TargetNotConnected", "InvalidDocument", "DoesNotExistException",
		"AccessDeniedException", "InvalidNextToken", "InvalidFilterKey", "ValidationException", "InvalidActivation",
		"UnrecognizedClientException", "InvalidSignatureException", "", "AccessDeniedException", "InvalidParameters",
		"ValidationException", "InvalidNextToken", "InvalidFilterKey", "InvalidInstanceInformationFilterValue", "InvalidInstanceId",
		"MissingAuthenticationTokenException", "InvalidSignatureException"}
	wantStatus := map[string]int{"InvalidSignatureException": 403}
	for _, py := range c.pythons {
		t.Run(filepath.Base(filepath.Dir(filepath.Dir(py)))+"-"+filepath.Base(py), func(t *testing.T) {
			input, _ := json.Marshal(map[string]any{"endpoint": srv.URL, "calls": calls})
			cmd := exec.Command(py, "testdata/boto3_driver.py")
			cmd.Env = []string{"HOME=" + t.TempDir(), "AWS_EC2_METADATA_DISABLED=true", "LANG=C.UTF-8", "PATH=/usr/bin:/bin"}
			cmd.Stdin = bytes.NewReader(input)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("boto3 driver: %v\n%s", err, stderr.String())
			}
			var res struct {
				Boto3   string
				Results []result
			}
			if err := json.Unmarshal(out, &res); err != nil || len(res.Results) != len(calls) {
				t.Fatalf("driver output %q: %v", out, err)
			}
			t.Logf("boto3 %s", res.Boto3)
			for i, r := range res.Results {
				name := calls[i].Op + " " + wantErr[i]
				if wantErr[i] == "" {
					if r.Error != nil {
						t.Errorf("%s: %+v", name, *r.Error)
					}
					continue
				}
				if r.Error == nil || r.Error.Code != wantErr[i] || r.Error.Message == "" && wantErr[i] != "InvalidFilterKey" {
					t.Errorf("%s: got %+v", name, r)
					continue
				}
				if st := wantStatus[wantErr[i]]; st != 0 && r.Error.Status != st || st == 0 && r.Error.Status != 400 {
					t.Errorf("%s: status %d", name, r.Error.Status)
				}
				modelled := map[string]bool{"TargetNotConnected": true, "InvalidDocument": true, "DoesNotExistException": true,
					"InvalidNextToken": true, "InvalidFilterKey": true, "InvalidActivation": true}
				if modelled[wantErr[i]] && r.Error.Class != wantErr[i] {
					t.Errorf("%s: raised as %s, not the modelled exception class", name, r.Error.Class)
				}
				if len(r.Error.RequestID) != 36 {
					t.Errorf("%s: request id %q", name, r.Error.RequestID)
				}
			}
			if e := res.Results[len(calls)-1].Error; e == nil || !strings.HasPrefix(e.Message, "Signature expired: ") {
				t.Errorf("skewed clock: %+v", e)
			}
			resume := res.Results[0].OK
			if resume["SessionId"] != active[0] || resume["TokenValue"] == "" || !strings.HasSuffix(resume["StreamUrl"].(string), active[0]+"?role=publish_subscribe") {
				t.Errorf("resume: %v", resume)
			}
			pages, _ := res.Results[2].OK["pages"].([]any)
			total := 0
			for _, p := range pages {
				total += len(p.(map[string]any)["Sessions"].([]any))
			}
			if len(pages) != 3 || total != 5 {
				t.Errorf("paginator: %d pages, %d sessions", len(pages), total)
			}
			if res.Results[3].OK["Status"] != "notconnected" {
				t.Errorf("connection status %v", res.Results[3].OK)
			}
			if len(res.Results[6].OK["InstanceInformationList"].([]any)) != 1 {
				t.Errorf("instances %v", res.Results[6].OK)
			}
		})
	}
}

func sdkClient(url, key, secret, tok string, mutate func(*ssm.Options)) *ssm.Client {
	return ssm.New(ssm.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, tok)}, func(o *ssm.Options) {
		if mutate != nil {
			mutate(o)
		}
	})
}

// skewedSigner signs as if the client's clock were off by skew.
type skewedSigner struct{ skew time.Duration }

func (s skewedSigner) SignHTTP(ctx context.Context, c aws.Credentials, r *http.Request, hash, svc, region string, at time.Time, opts ...func(*v4.SignerOptions)) error {
	return v4.NewSigner().SignHTTP(ctx, c, r, hash, svc, region, at.Add(s.skew), opts...)
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err == nil {
		return ""
	}
	return "other: " + err.Error()
}

// TestGoSDK drives every operation and error through aws-sdk-go-v2.
func TestGoSDK(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "", "")
	st := seedStore(t, srv)
	active := seedSessions(t, st, "Mary-Major", maryARN, 2, store.StatusConnected)
	johns := seedSessions(t, st, "John", johnARN, 1, store.StatusConnected)
	const patARN = "arn:aws:iam::" + account + ":user/Pat"
	seedSessions(t, st, "Pat", patARN, 7, store.StatusConnected)
	node := seedNode(t, st)
	ctx := context.Background()
	mary := sdkClient(srv.URL, maryKey, marySecret, "", nil)

	res, err := mary.ResumeSession(ctx, &ssm.ResumeSessionInput{SessionId: aws.String(active[0])})
	if err != nil || aws.ToString(res.SessionId) != active[0] || aws.ToString(res.TokenValue) == "" {
		t.Fatalf("resume: %+v %v", res, err)
	}
	if term, err := mary.TerminateSession(ctx, &ssm.TerminateSessionInput{SessionId: aws.String(active[1])}); err != nil || aws.ToString(term.SessionId) != active[1] {
		t.Fatalf("terminate: %v", err)
	}
	pager := ssm.NewDescribeSessionsPaginator(mary, &ssm.DescribeSessionsInput{State: types.SessionStateActive,
		Filters: []types.SessionFilter{{Key: types.SessionFilterKeyOwner, Value: aws.String(patARN)}}}, func(o *ssm.DescribeSessionsPaginatorOptions) { o.Limit = 3 })
	var pages, total int
	for pager.HasMorePages() {
		p, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		total += len(p.Sessions)
		for _, s := range p.Sessions {
			if s.StartDate == nil || s.Status != types.SessionStatusConnected || aws.ToString(s.Owner) != patARN {
				t.Errorf("session %+v", s)
			}
		}
	}
	if pages != 3 || total != 7 {
		t.Errorf("paginator: %d pages, %d sessions", pages, total)
	}
	hist, err := mary.DescribeSessions(ctx, &ssm.DescribeSessionsInput{State: types.SessionStateHistory})
	if err != nil || len(hist.Sessions) != 1 || aws.ToString(hist.Sessions[0].SessionId) != active[1] || hist.Sessions[0].EndDate == nil {
		t.Errorf("history: %+v %v", hist, err)
	}
	cs, err := mary.GetConnectionStatus(ctx, &ssm.GetConnectionStatusInput{Target: aws.String(node)})
	if err != nil || cs.Status != types.ConnectionStatusNotConnected {
		t.Errorf("connection status: %+v %v", cs, err)
	}
	act, err := mary.CreateActivation(ctx, &ssm.CreateActivationInput{IamRole: aws.String("SSMRole"), RegistrationLimit: aws.Int32(3),
		Tags: []types.Tag{{Key: aws.String("Env"), Value: aws.String("dev")}}})
	if err != nil {
		t.Fatal(err)
	}
	acts, err := mary.DescribeActivations(ctx, &ssm.DescribeActivationsInput{Filters: []types.DescribeActivationsFilter{
		{FilterKey: types.DescribeActivationsFilterKeysActivationIds, FilterValues: []string{aws.ToString(act.ActivationId)}}}})
	if err != nil || len(acts.ActivationList) != 1 || aws.ToInt32(acts.ActivationList[0].RegistrationLimit) != 3 || acts.ActivationList[0].ExpirationDate == nil {
		t.Errorf("describe activations: %+v %v", acts, err)
	}
	if _, err := mary.DeleteActivation(ctx, &ssm.DeleteActivationInput{ActivationId: act.ActivationId}); err != nil {
		t.Fatal(err)
	}
	inst, err := mary.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{})
	if err != nil || len(inst.InstanceInformationList) != 1 || inst.InstanceInformationList[0].PingStatus != types.PingStatusConnectionLost ||
		inst.InstanceInformationList[0].LastPingDateTime == nil {
		t.Errorf("instances: %+v %v", inst, err)
	}

	var (
		notConnected *types.TargetNotConnected
		invalidDoc   *types.InvalidDocument
		notExist     *types.DoesNotExistException
		badToken     *types.InvalidNextToken
		badKey       *types.InvalidFilterKey
		badAct       *types.InvalidActivation
		badParams    *types.InvalidParameters
		badValue     *types.InvalidInstanceInformationFilterValue
		badID        *types.InvalidInstanceId
	)
	typed := []struct {
		name   string
		err    error
		target any
	}{
		{"not connected", second(mary.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(node)})), &notConnected},
		{"invalid document", second(mary.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(node), DocumentName: aws.String("AWS-StartInteractiveCommand")})), &invalidDoc},
		{"does not exist", second(mary.ResumeSession(ctx, &ssm.ResumeSessionInput{SessionId: aws.String(active[1])})), &notExist},
		{"invalid next token", second(mary.DescribeSessions(ctx, &ssm.DescribeSessionsInput{State: types.SessionStateActive, NextToken: aws.String("x")})), &badToken},
		{"invalid filter key", second(mary.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
			Filters: []types.InstanceInformationStringFilter{{Key: aws.String("Colour"), Values: []string{"red"}}}})), &badKey},
		{"invalid activation", second(mary.DeleteActivation(ctx, &ssm.DeleteActivationInput{ActivationId: act.ActivationId})), &badAct},
		{"invalid parameters", second(mary.CreateActivation(ctx, &ssm.CreateActivationInput{IamRole: aws.String("r"),
			ExpirationDate: aws.Time(time.Now().Add(-time.Hour))})), &badParams},
		{"invalid filter value", second(mary.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
			Filters: []types.InstanceInformationStringFilter{{Key: aws.String("PingStatus"), Values: []string{"Asleep"}}}})), &badValue},
		{"invalid instance id", second(mary.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
			InstanceInformationFilterList: []types.InstanceInformationFilter{{Key: types.InstanceInformationFilterKeyInstanceIds, ValueSet: []string{"x-1"}}}})), &badID},
	}
	for _, tc := range typed {
		if !errors.As(tc.err, tc.target) {
			t.Errorf("%s: %v is not the modelled error type", tc.name, tc.err)
		}
	}
	untyped := []struct {
		name string
		err  error
		code string
	}{
		{"access denied", second(mary.ResumeSession(ctx, &ssm.ResumeSessionInput{SessionId: aws.String(johns[0])})), "AccessDeniedException"},
		{"validation", second(mary.DescribeSessions(ctx, &ssm.DescribeSessionsInput{State: types.SessionStateActive, MaxResults: aws.Int32(500)})), "ValidationException"},
		{"unknown key", second(sdkClient(srv.URL, "AKIDNOBODY", "x", "", nil).GetConnectionStatus(ctx, &ssm.GetConnectionStatusInput{Target: aws.String("i-1")})), "UnrecognizedClientException"},
		{"wrong secret", second(sdkClient(srv.URL, maryKey, "x", "", nil).GetConnectionStatus(ctx, &ssm.GetConnectionStatusInput{Target: aws.String("i-1")})), "InvalidSignatureException"},
		{"clock skew", second(sdkClient(srv.URL, maryKey, marySecret, "", func(o *ssm.Options) { o.HTTPSignerV4 = skewedSigner{-6 * time.Minute} }).
			GetConnectionStatus(ctx, &ssm.GetConnectionStatusInput{Target: aws.String("i-1")})), "InvalidSignatureException"},
		{"terminate other's", second(mary.TerminateSession(ctx, &ssm.TerminateSessionInput{SessionId: aws.String(johns[0])})), "AccessDeniedException"},
		{"unsigned", second(sdkClient(srv.URL, "", "", "", func(o *ssm.Options) { o.Credentials = aws.AnonymousCredentials{} }).
			GetConnectionStatus(ctx, &ssm.GetConnectionStatusInput{Target: aws.String("i-1")})), "MissingAuthenticationTokenException"},
		{"temporary credentials", second(sdkClient(srv.URL, tempKey, secret, tempToken, nil).GetConnectionStatus(ctx, &ssm.GetConnectionStatusInput{Target: aws.String("i-1")})), ""},
	}
	for _, tc := range untyped {
		if got := apiCode(tc.err); got != tc.code {
			t.Errorf("%s: got %s, want %q", tc.name, got, tc.code)
		}
	}
	if err := untyped[4].err; err == nil || !strings.Contains(err.Error(), "Signature expired") {
		t.Errorf("skew message: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestProtocolErrors sends hand-made signed requests for what SDKs never
// send: unknown targets, wrong content types, malformed JSON, huge bodies.
func TestProtocolErrors(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "", "")
	post := func(target, ctype, body string) (int, map[string]any, http.Header) {
		r, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader(body))
		r.Header.Set("X-Amz-Target", target)
		r.Header.Set("Content-Type", ctype)
		sum := sha256.Sum256([]byte(body))
		creds := aws.Credentials{AccessKeyID: maryKey, SecretAccessKey: marySecret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "ssm", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		json.Unmarshal(b, &m) //nolint:errcheck // checked by callers
		return resp.StatusCode, m, resp.Header
	}
	const ct = "application/x-amz-json-1.1"
	for _, tc := range []struct {
		name, target, ctype, body string
		status                    int
		code                      string
	}{
		{"ok", "AmazonSSM.GetConnectionStatus", ct, `{"Target": "i-1"}`, 200, ""},
		{"unknown operation", "AmazonSSM.SendCommand", ct, `{}`, 400, "UnknownOperationException"},
		{"wrong content type", "AmazonSSM.GetConnectionStatus", "application/json", `{"Target": "i-1"}`, 400, "SerializationException"},
		{"malformed", "AmazonSSM.GetConnectionStatus", ct, `{"Target": `, 400, "SerializationException"},
		{"wrong type", "AmazonSSM.GetConnectionStatus", ct, `{"Target": ["i-1"]}`, 400, "SerializationException"},
		{"too large", "AmazonSSM.GetConnectionStatus", ct, `{"Target": "` + strings.Repeat("a", 2<<20) + `"}`, 413, "RequestEntityTooLargeException"},
	} {
		status, body, hdr := post(tc.target, tc.ctype, tc.body)
		if status != tc.status || (tc.code != "" && body["__type"] != tc.code) {
			t.Errorf("%s: %d %v", tc.name, status, body)
		}
		if len(hdr.Get("x-amzn-RequestId")) != 36 || hdr.Get("Content-Type") != ct {
			t.Errorf("%s: headers %v", tc.name, hdr)
		}
	}
}

// TestRestart: state and the token key survive kill -9 of the server.
func TestRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServer(t, dir, "")
	st := seedStore(t, srv)
	id := seedSessions(t, st, "Mary-Major", maryARN, 1, store.StatusDisconnected)[0]
	ctx := context.Background()
	res, err := sdkClient(srv.URL, maryKey, marySecret, "", nil).ResumeSession(ctx, &ssm.ResumeSessionInput{SessionId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	act, err := sdkClient(srv.URL, maryKey, marySecret, "", nil).CreateActivation(ctx, &ssm.CreateActivationInput{IamRole: aws.String("r")})
	if err != nil {
		t.Fatal(err)
	}
	srv.kill9(t)

	srv2 := startServer(t, dir, "")
	c := sdkClient(srv2.URL, maryKey, marySecret, "", nil)
	res2, err := c.ResumeSession(ctx, &ssm.ResumeSessionInput{SessionId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	key, err := token.LoadOrCreateKey(filepath.Join(dir, token.KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	codec, _ := token.New(key, token.Config{})
	if _, err := codec.Verify(aws.ToString(res.TokenValue), token.RoleClient, 3); !errors.Is(err, token.ErrSuperseded) {
		t.Errorf("token from before the restart: %v (want superseded by the resume after it)", err)
	}
	if cl, err := codec.Verify(aws.ToString(res2.TokenValue), token.RoleClient, 3); err != nil || cl.Generation != 3 {
		t.Errorf("token after restart: %+v %v", cl, err)
	}
	acts, err := c.DescribeActivations(ctx, &ssm.DescribeActivationsInput{})
	if err != nil || len(acts.ActivationList) != 1 || aws.ToString(acts.ActivationList[0].ActivationId) != aws.ToString(act.ActivationId) {
		t.Errorf("activation after restart: %+v %v", acts, err)
	}
}
