package ssmcli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestShorthand(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "a=b", want: `{"a": "b"}`},
		{in: "a=b,c", want: `{"a": ["b", "c"]}`},
		{in: "key=Target,value=i-1", want: `{"key": "Target", "value": "i-1"}`},
		{in: "portNumber=80,localPortNumber=9999", want: `{"portNumber": "80", "localPortNumber": "9999"}`},
		{in: `command=["ls -l","pwd"]`, want: `{"command": ["ls -l", "pwd"]}`},
		{in: "a={b=c,d=[e,f]}", want: `{"a": {"b": "c", "d": ["e", "f"]}}`},
		{in: `a='x,y',b="q\"r"`, want: `{"a": "x,y", "b": "q\"r"}`},
		{in: `a=x\,y`, want: `{"a": "x,y"}`},
		{in: "a=", want: `{"a": ""}`},
		{in: "portNumber", err: "Expected: '=', received: 'EOF' for input:\nportNumber\n          ^"},
		{in: "a=b,a=c", err: "Second instance of key \"a\" encountered for input:\na=b,a=c\n    ^\nThis is often because there is a preceding \",\" instead of a space."},
		{in: "a=[b", err: "Expected: ',', received: 'EOF' for input:\na=[b\n    ^"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ob := newOrderBook()
			got, err := parseShorthand(tt.in, ob)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := (jsonWriter{ob: ob}).encode(got); s != tt.want {
				t.Errorf("got %s, want %s", s, tt.want)
			}
		})
	}
}

func FuzzShorthand(f *testing.F) {
	for _, s := range []string{"a=b", "a=b,c", "a={b=[c,d]}", `a='x'`, "k=v k2=v2", "a=[", "=", "a=b,,", "a=\"\\\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseShorthand(s, newOrderBook())
		if err == nil && m == nil {
			t.Fatal("nil map without error")
		}
	})
}

// FuzzResponse feeds arbitrary bodies through parsing and every output
// format: bad input must never panic.
func FuzzResponse(f *testing.F) {
	f.Add([]byte(`{"Sessions": [` + sessS1 + `], "NextToken": "x"}`))
	f.Add([]byte(`{"Sessions": [{"StartDate": "bad", "OutputUrl": 3}, null, 1]}`))
	f.Add([]byte(`[1,2]`))
	f.Add([]byte(`{"Sessions": {"a": [[]]}}`))
	m, err := loadModel()
	if err != nil {
		f.Fatal(err)
	}
	op := m.Ops["describe-sessions"]
	f.Fuzz(func(t *testing.T, body []byte) {
		ob := newOrderBook()
		v := parseResponseBody(body, op.Output, timestampFormatter{loc: time.UTC}, ob)
		var b strings.Builder
		b.WriteString(jsonWriter{ob: ob, indent: 4}.encode(v))
		formatText(&b, v)
		_ = formatTable(&b, "DescribeSessions", v, 80, true)
		formatYAML(&b, v, ob)
		code, msg := parseErrorBody(&rawResponse{status: 400, body: body})
		_, _ = code, msg
	})
}

func FuzzYAMLScalar(f *testing.F) {
	for _, s := range []string{"", "a: b", "it's", "x\ny", " lead", "trail ", "\t", "中文", "- a", "#c", strings.Repeat("w ", 60)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b strings.Builder
		formatYAML(&b, map[string]any{"k": s, s: []any{s}}, nil)
		if !strings.HasSuffix(b.String(), "\n") {
			t.Fatal("no trailing newline")
		}
	})
}

func TestYAMLScalars(t *testing.T) {
	// Expected strings were produced with ruamel.yaml's safe dumper as
	// awscli configures it.
	tests := []struct {
		v    any
		want string
	}{
		{map[string]any{"a": "s-é中"}, "a: s-é中\n"},
		{map[string]any{"a": strings.Repeat("x ", 60)}, "a: 'x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x\n  x x x x x x x x x x x x x x x x x x x x x '\n"},
		{map[string]any{"a": "yes"}, "a: yes\n"},
		{map[string]any{"a": "0x1f"}, "a: '0x1f'\n"},
		{map[string]any{"a": "2018-11-06"}, "a: '2018-11-06'\n"},
		{map[string]any{"a": "a: b"}, "a: 'a: b'\n"},
		{map[string]any{"a": "a\nb"}, "a: 'a\n\n  b'\n"},
		{map[string]any{"a": "\t"}, "a: \"\\t\"\n"},
		{map[string]any{"a": "~"}, "a: '~'\n"},
		{map[string]any{"a": "x #y"}, "a: 'x #y'\n"},
		{map[string]any{"a": "nULL"}, "a: nULL\n"},
		{map[string]any{"a": "="}, "a: '='\n"},
		{map[string]any{"a": 1e20}, "a: 1e+20\n"},
		{map[string]any{"a": nil}, "a: null\n"},
		{map[string]any{"a": []any{[]any{}, map[string]any{}}}, "a:\n- []\n- {}\n"},
		{map[string]any{"a": map[string]any{"b": []any{map[string]any{"c": []any{1.0, []any{2.0, 3.0}}}}}}, "a:\n  b:\n  - c:\n    - 1\n    - - 2\n      - 3\n"},
	}
	for _, tt := range tests {
		var b strings.Builder
		formatYAML(&b, tt.v, nil)
		if b.String() != tt.want {
			t.Errorf("yaml(%v) = %q, want %q", tt.v, b.String(), tt.want)
		}
	}
}

func TestDefaultEndpoint(t *testing.T) {
	tests := []struct {
		region          string
		fips, dualstack bool
		want            string
	}{
		{"us-east-1", false, false, "https://ssm.us-east-1.amazonaws.com"},
		{"eu-west-1", false, false, "https://ssm.eu-west-1.amazonaws.com"},
		{"us-east-1", true, false, "https://ssm-fips.us-east-1.amazonaws.com"},
		{"us-east-1", false, true, "https://ssm.us-east-1.api.aws"},
		{"cn-north-1", false, false, "https://ssm.cn-north-1.amazonaws.com.cn"},
		{"us-gov-west-1", true, false, "https://ssm.us-gov-west-1.amazonaws.com"},
	}
	for _, tt := range tests {
		if got := defaultEndpoint(tt.region, tt.fips, tt.dualstack); got != tt.want {
			t.Errorf("defaultEndpoint(%s, %v, %v) = %s, want %s", tt.region, tt.fips, tt.dualstack, got, tt.want)
		}
	}
}

func TestPythonFormatting(t *testing.T) {
	for f, want := range map[float64]string{1541539000.123: "1541539000.123", 2: "2", 0.5: "0.5", 1e-5: "1e-05", 1.5e17: "1.5e+17"} {
		if got := pyNumber(f); got != want {
			t.Errorf("pyNumber(%v) = %s, want %s", f, got, want)
		}
	}
	for s, want := range map[string]string{"a": "'a'", "it's": `"it's"`, `a"b'c`: `'a"b\'c'`, "x\ny": `'x\ny'`} {
		if got := pyRepr(s); got != want {
			t.Errorf("pyRepr(%q) = %s, want %s", s, got, want)
		}
	}
	for in, want := range map[string]string{"DescribeInstanceInformation": "describe-instance-information", "GetConnectionStatus": "get-connection-status", "ListTagsForResource": "list-tags-for-resource", "DescribeInstancePatchStatesForPatchGroup": "describe-instance-patch-states-for-patch-group"} {
		if got := xformName(in); got != want {
			t.Errorf("xformName(%s) = %s, want %s", in, got, want)
		}
	}
	if got := closeMatches("resume-sesion", []string{"resume-session", "start-session", "terminate-session"}, 3, 0.8); len(got) != 1 || got[0] != "resume-session" {
		t.Errorf("closeMatches = %v", got)
	}
	p := pyTime{t: fromEpoch(1541538301.214, time.UTC)}
	if got := p.isoformat("T"); got != "2018-11-06T21:05:01.214000+00:00" {
		t.Errorf("isoformat = %s", got)
	}
}

func TestPaginationToken(t *testing.T) {
	zero := 0
	if got := (pageToken{next: "page2"}).encode(); got != "eyJOZXh0VG9rZW4iOiAicGFnZTIifQ==" {
		t.Errorf("token = %s", got)
	}
	if got := (pageToken{truncate: &zero}).encode(); got != "eyJOZXh0VG9rZW4iOiBudWxsLCAiYm90b190cnVuY2F0ZV9hbW91bnQiOiAwfQ==" {
		t.Errorf("token = %s", got)
	}
	for tok, want := range map[string]any{"eyJOZXh0VG9rZW4iOiAicGFnZTIifQ==": "page2", "page2": "page2", "bad": "bad", "None": nil} {
		if got, _ := parseStartingToken(tok); got != want {
			t.Errorf("parseStartingToken(%s) = %v, want %v", tok, got, want)
		}
	}
}

// TestEndpointURLEnv runs Main in-process: AWS_ENDPOINT_URL_SSM (which
// the Debian CLI 2.9.19 predates) selects the endpoint.
func TestEndpointURLEnv(t *testing.T) {
	counter := new(int)
	srv := startFake(t, serverMode{Mode: "canned"}, counter, nil)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("AWS_CONFIG_FILE", home+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", home+"/credentials")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	t.Setenv("AWS_ENDPOINT_URL_SSM", "http://"+srv.ln.Addr().String())
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"get-connection-status", "--target", "i-1", "--region", "us-east-1", "--output", "text"},
		Config{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader("")})
	if code != 0 || out.String() != "connected\ti-1\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.requests) != 1 || srv.requests[0].Target != "AmazonSSM.GetConnectionStatus" {
		t.Fatalf("requests = %+v", srv.requests)
	}
}

func TestPyJSONError(t *testing.T) {
	// Messages produced by CPython 3.11's json.loads.
	for doc, want := range map[string]string{
		`{bad`:       "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
		`[{"key": `:  "Expecting value: line 1 column 10 (char 9)",
		`{"a" 1}`:    "Expecting ':' delimiter: line 1 column 6 (char 5)",
		`[1 2]`:      "Expecting ',' delimiter: line 1 column 4 (char 3)",
		`"abc`:       "Unterminated string starting at: line 1 column 1 (char 0)",
		`{"a":1}x`:   "Extra data: line 1 column 8 (char 7)",
		`[1,]`:       "Expecting value: line 1 column 4 (char 3)",
		`{"a":"\q"}`: "Invalid \\escape: line 1 column 7 (char 6)",
	} {
		if got := pyJSONError(doc, nil); got != want {
			t.Errorf("pyJSONError(%q) = %q, want %q", doc, got, want)
		}
	}
}

func FuzzStartingToken(f *testing.F) {
	for _, s := range []string{"eyJOZXh0VG9rZW4iOiAicGFnZTIifQ==", "page2", "page2___1", "None", "", "e30=", "WzFd", "eyJOZXh0VG9rZW4iOiAxfQ=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseStartingToken(s)
	})
}

func FuzzPyJSONError(f *testing.F) {
	for _, s := range []string{"{bad", "[1,", `"\u`, "{\"a\":", "", "[[[[", "1e", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !strings.Contains(pyJSONError(s, nil), "line ") {
			t.Fatal("no position")
		}
	})
}

func TestPyJMESPathErrors(t *testing.T) {
	// Messages produced by Python's jmespath as awscli prints them.
	for expr, want := range map[string]string{
		"[SessionId":                "Invalid jmespath expression: Incomplete expression:\n\"[SessionId\"\n           ^",
		"a.":                        "Expecting: ['quoted_identifier', 'unquoted_identifier', 'lbracket', 'lbrace'], got: eof: Parse error at column 2, token \"\" (EOF), for expression:\n\"a.\"\n   ^",
		"foo bar":                   "Unexpected token: bar: Parse error at column 4, token \"bar\" (UNQUOTED_IDENTIFIER), for expression:\n\"foo bar\"\n     ^",
		"`abc":                      "Bad jmespath expression: Unclosed ` delimiter:\n`abc\n^",
		"a..b":                      "Expecting: ['quoted_identifier', 'unquoted_identifier', 'lbracket', 'lbrace'], got: dot: Parse error at column 2, token \".\" (DOT), for expression:\n\"a..b\"\n   ^",
		"@@":                        "Unexpected token: @: Parse error at column 1, token \"@\" (CURRENT), for expression:\n\"@@\"\n  ^",
		"]":                         "invalid token: Parse error at column 0, token \"]\" (RBRACKET), for expression:\n\"]\"\n ^",
		"'abc":                      "Bad jmespath expression: Unclosed ' delimiter:\n'abc\n^",
		"@.{}":                      "Expecting: ['quoted_identifier', 'unquoted_identifier'], got: rbrace: Parse error at column 3, token \"}\" (RBRACE), for expression:\n\"@.{}\"\n    ^",
		"a[?b==`1`]":                "",
		"Sessions[?Status==`Nope`]": "",
	} {
		if got := pyJMESPathCheck(expr); got != want {
			t.Errorf("pyJMESPathCheck(%q) =\n%q\nwant\n%q", expr, got, want)
		}
	}
}

func FuzzPyJMESPath(f *testing.F) {
	for _, s := range []string{"a.b", "[a,b]", "{a:b}", "a[?b==`1`]", "a[0:2:1]", "length(a)", "a || b && !c", "&a", "a[*].b", "`{\"a\":1}`", "'x'", "\"q\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = pyJMESPathCheck(s)
	})
}
