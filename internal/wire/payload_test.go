package wire_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tether-ssm/tether/internal/wire"
)

// TestPayloadJSON pins the exact bytes of each JSON payload against the forms
// in protocol.md (key order included).
func TestPayloadJSON(t *testing.T) {
	t.Parallel()
	sessionType, err := wire.NewAction(wire.ActionSessionType, wire.SessionTypeRequest{
		SessionType: wire.SessionPort,
		Properties:  json.RawMessage(`{"portNumber":"80","type":"LocalPortForwarding","localPortNumber":"0"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	kms, err := wire.NewAction(wire.ActionKMSEncryption, wire.KMSEncryptionRequest{KMSKeyID: "k", Challenge: []byte{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	shell, err := wire.NewAction(wire.ActionSessionType, wire.SessionTypeRequest{SessionType: wire.SessionStandardStream})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"size", wire.Size{Cols: 80, Rows: 24}, `{"cols":80,"rows":24}`},
		{"default size", wire.DefaultSize(), `{"cols":300,"rows":100}`},
		{"ack", wire.Acknowledge{AcknowledgedMessageType: "input_stream_data", AcknowledgedMessageID: "x", AcknowledgedMessageSequenceNumber: 7, IsSequentialMessage: true},
			`{"AcknowledgedMessageType":"input_stream_data","AcknowledgedMessageId":"x","AcknowledgedMessageSequenceNumber":7,"IsSequentialMessage":true}`},
		{"cumulative ack", wire.Acknowledge{AcknowledgedMessageType: "input_stream_data", AcknowledgedMessageID: "x", AcknowledgedMessageSequenceNumber: 7, IsSequentialMessage: true, Cumulative: true},
			`{"AcknowledgedMessageType":"input_stream_data","AcknowledgedMessageId":"x","AcknowledgedMessageSequenceNumber":7,"IsSequentialMessage":true,"TetherCumulative":true}`},
		{"handshake request", wire.HandshakeRequest{AgentVersion: "3.3.987.0", RequestedClientActions: []wire.RequestedClientAction{sessionType, kms}},
			`{"AgentVersion":"3.3.987.0","RequestedClientActions":[{"ActionType":"SessionType","ActionParameters":{"SessionType":"Port","Properties":{"portNumber":"80","type":"LocalPortForwarding","localPortNumber":"0"}}},{"ActionType":"KMSEncryption","ActionParameters":{"KMSKeyId":"k","Challenge":"AQI="}}]}`},
		{"shell session type", shell, `{"ActionType":"SessionType","ActionParameters":{"SessionType":"Standard_Stream","Properties":null}}`},
		{"handshake response", wire.HandshakeResponse{ClientVersion: "1.2.0.0", ProcessedClientActions: []wire.ProcessedClientAction{{ActionType: wire.ActionSessionType, ActionStatus: wire.ActionSuccess}}},
			`{"ClientVersion":"1.2.0.0","ProcessedClientActions":[{"ActionType":"SessionType","ActionStatus":1,"ActionResult":null,"Error":""}],"Errors":null}`},
		{"handshake complete", wire.HandshakeComplete{HandshakeTimeToComplete: 1500 * time.Millisecond},
			`{"HandshakeTimeToComplete":1500000000,"CustomerMessage":""}`},
		{"enc challenge", wire.EncChallenge{Challenge: []byte("abc")}, `{"Challenge":"YWJj"}`},
		{"channel closed", wire.ChannelClosed{MessageID: "m", CreatedDate: "1700000000000", DestinationID: "i-0123", SessionID: "s", MessageType: wire.TypeChannelClosed, SchemaVersion: 1},
			`{"MessageId":"m","CreatedDate":"1700000000000","DestinationId":"i-0123","SessionId":"s","MessageType":"channel_closed","SchemaVersion":1,"Output":""}`},
		{"agent session state", wire.AgentSessionState{SchemaVersion: 1, SessionState: wire.SessionStateConnected, SessionID: "s"},
			`{"SchemaVersion":1,"SessionState":"Connected","SessionId":"s"}`},
		{"open data channel (client)", wire.OpenDataChannelInput{MessageSchemaVersion: "1.0", RequestID: "r", TokenValue: "t", ClientID: "c", ClientVersion: "1.2.0.0"},
			`{"MessageSchemaVersion":"1.0","RequestId":"r","TokenValue":"t","ClientId":"c","ClientVersion":"1.2.0.0"}`},
		{"open data channel (old client)", wire.OpenDataChannelInput{MessageSchemaVersion: "1.0", RequestID: "r", TokenValue: "t", ClientID: "c"},
			`{"MessageSchemaVersion":"1.0","RequestId":"r","TokenValue":"t","ClientId":"c"}`},
		{"open data channel (agent)", wire.AgentOpenDataChannelInput{MessageSchemaVersion: "1.0", RequestID: "r", TokenValue: "t", ClientInstanceID: "i-1"},
			`{"MessageSchemaVersion":"1.0","RequestId":"r","TokenValue":"t","ClientInstanceId":"i-1","ClientId":""}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestParseHandshake(t *testing.T) {
	t.Parallel()
	const in = `{"AgentVersion":"3.3.987.0","RequestedClientActions":[{"ActionType":"SessionType","ActionParameters":{"SessionType":"Port","Properties":{"portNumber":"80"}}},{"ActionType":"KMSEncryption","ActionParameters":{"KMSKeyId":"arn:k","Challenge":"AQI="}}]}`
	var req wire.HandshakeRequest
	if err := wire.ParsePayload([]byte(in), &req); err != nil {
		t.Fatal(err)
	}
	st, err := req.RequestedClientActions[0].SessionType()
	if err != nil || st.SessionType != wire.SessionPort || string(st.Properties) != `{"portNumber":"80"}` {
		t.Fatalf("session type = %+v, %v", st, err)
	}
	k, err := req.RequestedClientActions[1].KMSEncryption()
	if err != nil || k.KMSKeyID != "arn:k" || string(k.Challenge) != "\x01\x02" {
		t.Fatalf("kms = %+v, %v", k, err)
	}
	if err := wire.ParsePayload([]byte("{"), &req); !errors.Is(err, wire.ErrBadPayload) {
		t.Fatalf("bad JSON error = %v", err)
	}
}

func TestFlagAndExitCode(t *testing.T) {
	t.Parallel()
	if got := wire.FlagTerminateSession.Bytes(); string(got) != "\x00\x00\x00\x02" {
		t.Fatalf("flag bytes %x", got)
	}
	for _, tc := range []struct {
		in      string
		want    wire.Flag
		wantErr bool
	}{{"\x00\x00\x00\x01", wire.FlagDisconnectToPort, false}, {"\x00\x00\x00\x03", wire.FlagConnectToPortError, false}, {"\x00\x01", 0, true}, {"", 0, true}} {
		f, err := wire.ParseFlag([]byte(tc.in))
		if f != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseFlag(%x) = %v, %v", tc.in, f, err)
		}
	}
	if got := string(wire.ExitCodePayload(-1)); got != "EXIT_CODE: -1" {
		t.Fatalf("exit code payload %q", got)
	}
	for _, tc := range []struct {
		in      string
		want    int
		wantErr bool
	}{{"EXIT_CODE: 0", 0, false}, {"EXIT_CODE: 130", 130, false}, {"EXIT_CODE: x", 0, true}, {"exit 1", 0, true}} {
		n, err := wire.ParseExitCode([]byte(tc.in))
		if n != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseExitCode(%q) = %d, %v", tc.in, n, err)
		}
	}
}

func TestParseOpenDataChannel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        string
		wantAgent bool
		wantErr   bool
	}{
		{"client", `{"MessageSchemaVersion":"1.0","RequestId":"r","TokenValue":"t","ClientId":"c","ClientVersion":"1.2.0.0"}`, false, false},
		{"agent", `{"MessageSchemaVersion":"1.0","RequestId":"r","TokenValue":"t","ClientInstanceId":"i-1","ClientId":""}`, true, false},
		{"no token", `{"MessageSchemaVersion":"1.0","RequestId":"r","ClientId":"c"}`, false, true},
		{"not json", `hello`, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o, err := wire.ParseOpenDataChannel([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && o.IsAgent() != tc.wantAgent {
				t.Fatalf("IsAgent = %v", o.IsAgent())
			}
		})
	}
}

// ackShadow has Acknowledge's fields without its MarshalJSON, to compare the
// hand-written codec with encoding/json.
type ackShadow struct {
	AcknowledgedMessageType           string `json:"AcknowledgedMessageType"`
	AcknowledgedMessageID             string `json:"AcknowledgedMessageId"`
	AcknowledgedMessageSequenceNumber int64  `json:"AcknowledgedMessageSequenceNumber"`
	IsSequentialMessage               bool   `json:"IsSequentialMessage"`
	Cumulative                        bool   `json:"TetherCumulative,omitempty"`
}

func FuzzAcknowledge(f *testing.F) {
	f.Add("output_stream_data", "dd01e56b-ff48-483e-a508-b5f073f31b16", int64(2), true, false)
	f.Add("a<b&\"c\\", "\xff\x00", int64(-1), false, true)
	f.Fuzz(func(t *testing.T, typ, id string, seq int64, seqn, cum bool) {
		a := wire.Acknowledge{typ, id, seq, seqn, cum}
		got := wire.AppendAcknowledge(nil, a)
		want, _ := json.Marshal(ackShadow(a))
		if string(got) != string(want) {
			t.Fatalf("AppendAcknowledge\n got %s\nwant %s", got, want)
		}
		if u, err := wire.ParseUUID(id); err == nil && seqn && u.String() == id {
			if fast := wire.AppendAck(nil, typ, u, seq, cum); string(fast) != string(got) {
				t.Fatalf("AppendAck\n got %s\nwant %s", fast, got)
			}
		}
		back, err := wire.ParseAcknowledge(got)
		if err != nil {
			t.Fatal(err)
		}
		var viaJSON ackShadow
		if err := json.Unmarshal(got, &viaJSON); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wire.Acknowledge(viaJSON), back); diff != "" {
			t.Fatalf("ParseAcknowledge differs from encoding/json (-json +fast):\n%s", diff)
		}
	})
}

func FuzzParseAcknowledge(f *testing.F) {
	f.Add([]byte(`{"AcknowledgedMessageType":"output_stream_data","AcknowledgedMessageId":"x","AcknowledgedMessageSequenceNumber":5,"IsSequentialMessage":true}`))
	f.Add([]byte(`{"AcknowledgedMessageType":"o","AcknowledgedMessageId":"x","AcknowledgedMessageSequenceNumber":01,"IsSequentialMessage":true}`))
	f.Add([]byte(`{"AcknowledgedMessageType":"o","AcknowledgedMessageId":"x","AcknowledgedMessageSequenceNumber":1e3,"IsSequentialMessage":true,"TetherCumulative":true}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		got, err := wire.ParseAcknowledge(p)
		var want ackShadow
		jerr := json.Unmarshal(p, &want)
		if (err != nil) != (jerr != nil) {
			t.Fatalf("ParseAcknowledge err %v, encoding/json err %v", err, jerr)
		}
		if err == nil && got != wire.Acknowledge(want) {
			t.Fatalf("got %+v want %+v", got, want)
		}
	})
}

func TestControlMessages(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(1700000000000)
	cc := wire.NewChannelClosed("s-1", "i-0123", "", now)
	want := `{"MessageId":"` + cc.MessageID.String() + `","CreatedDate":"1700000000000","DestinationId":"i-0123","SessionId":"s-1","MessageType":"channel_closed","SchemaVersion":1,"Output":""}`
	if string(cc.Payload) != want {
		t.Fatalf("channel_closed payload\n got %s\nwant %s", cc.Payload, want)
	}
	st := wire.NewAgentSessionState("s-1", wire.SessionStateTerminating, now)
	if string(st.Payload) != `{"SchemaVersion":1,"SessionState":"Terminating","SessionId":"s-1"}` || st.Flags != 3 {
		t.Fatalf("agent_session_state %+v %s", st, st.Payload)
	}
	for _, m := range []wire.Message{cc, st, wire.NewStartPublication(now), wire.NewPausePublication(now)} {
		b, err := wire.Encode(&m)
		if err != nil {
			t.Fatalf("%s: %v", m.MessageType, err)
		}
		back, err := wire.Decode(b)
		if err != nil || back.MessageType != m.MessageType || back.CreatedDate != 1700000000000 || back.SequenceNumber != 0 {
			t.Fatalf("%s: decoded %+v, %v", m.MessageType, back, err)
		}
	}
	if p := wire.NewPausePublication(now); len(p.Payload) != 0 || p.MessageType != wire.TypePausePublication {
		t.Fatalf("pause_publication %+v", p)
	}
}
