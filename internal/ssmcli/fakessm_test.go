package ssmcli

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSSM is the canned-response server of awscli.md §1.4. It writes
// responses by hand so header order and bytes are exactly controlled.
type fakeSSM struct {
	mode     serverMode
	mu       sync.Mutex
	counter  *int // shared request counter (for x-amzn-RequestId)
	requests []fakeRequest
	ln       net.Listener
}

type serverMode struct {
	Mode      string         `json:"mode"`
	Responses []seqResponse  `json:"responses"`
	Sleep     float64        `json:"sleep"`
	Canned    map[string]any `json:"-"`
}

type seqResponse struct {
	Status  int               `json:"status"`
	Body    json.RawMessage   `json:"body"`
	Headers map[string]string `json:"headers"`
	Sleep   float64           `json:"sleep"`
}

type fakeRequest struct {
	Host   string
	Target string
	Path   string
	Header http.Header
	Body   string
}

// startFake listens on 127.0.0.1:0 (with TLS when cfg is non-nil).
func startFake(t *testing.T, mode serverMode, counter *int, tlsCfg *tls.Config) *fakeSSM {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	f := &fakeSSM{mode: mode, counter: counter, ln: ln}
	go f.serve()
	t.Cleanup(func() { ln.Close() })
	return f
}

func (f *fakeSSM) port() int { return f.ln.Addr().(*net.TCPAddr).Port }

func (f *fakeSSM) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		go f.handle(c)
	}
}

func (f *fakeSSM) handle(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, _ := io.ReadAll(req.Body)
		f.mu.Lock()
		idx := len(f.requests)
		f.requests = append(f.requests, fakeRequest{Host: req.Host, Target: req.Header.Get("X-Amz-Target"), Path: req.URL.Path, Header: req.Header, Body: string(body)})
		*f.counter++
		n := *f.counter
		f.mu.Unlock()
		status, respBody, extra, sleep := f.answer(idx, req.Header.Get("X-Amz-Target"), body)
		if sleep > 0 {
			time.Sleep(time.Duration(sleep * float64(time.Second)))
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
		fmt.Fprintf(&b, "Server: FakeSSM/1.0 \r\n")
		fmt.Fprintf(&b, "Date: %s\r\n", time.Now().UTC().Format(http.TimeFormat))
		fmt.Fprintf(&b, "x-amzn-RequestId: 11111111-2222-3333-4444-%012d\r\n", n)
		ct := "application/x-amz-json-1.1"
		for _, h := range extra {
			if strings.EqualFold(h[0], "Content-Type") {
				ct = h[1]
			}
		}
		fmt.Fprintf(&b, "Content-Type: %s\r\n", ct)
		for _, h := range extra {
			if !strings.EqualFold(h[0], "Content-Type") {
				fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
			}
		}
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(respBody))
		b.Write(respBody)
		if _, err := c.Write(b.Bytes()); err != nil {
			return
		}
	}
}

// pyDumps serialises a JSON document as Python's json.dumps does.
func pyDumps(raw []byte) []byte {
	ob := newOrderBook()
	v, err := decodeOrdered(raw, ob)
	if err != nil {
		return raw
	}
	if s, ok := v.(string); ok {
		return []byte(s) // string bodies are sent raw
	}
	return []byte(jsonWriter{ob: ob, ensureASCII: true}.encode(v))
}

func (f *fakeSSM) answer(idx int, target string, body []byte) (int, []byte, [][2]string, float64) {
	switch f.mode.Mode {
	case "seq":
		r := f.mode.Responses[min(idx, len(f.mode.Responses)-1)]
		var hs [][2]string
		for k, v := range r.Headers {
			hs = append(hs, [2]string{k, v})
		}
		return r.Status, pyDumps(r.Body), hs, r.Sleep
	case "hang":
		st, b := canned(target, body)
		return st, b, nil, f.mode.Sleep
	}
	st, b := canned(target, body)
	return st, b, nil, 0
}

const (
	sampleResp = `{"SessionId": "Mary-Major-07a16060613c408b5", "TokenValue": "AAEAAVbT...", "StreamUrl": "wss://ssmmessages.us-east-2.amazonaws.com/v1/data-channel/Mary-Major-07a16060613c408b5?role=publish_subscribe"}`
	sessS1     = `{"SessionId": "John-Stiles-1a2b3c4d5e6f7a8b9", "Target": "i-1234567890abcdef0", "Status": "Connected", "StartDate": 1541538301.214, "DocumentName": "SSM-SessionManagerRunShell", "Owner": "arn:aws:sts::123456789012:assumed-role/Admin/John-Stiles", "Reason": "debugging", "OutputUrl": {"S3OutputUrl": "", "CloudWatchOutputUrl": ""}, "MaxSessionDuration": "20"}`
	sessS2     = `{"SessionId": "Mary-Major-07a16060613c408b5", "Target": "i-0123456789abcdef1", "Status": "Connected", "StartDate": 1541538311.5, "DocumentName": "AWS-StartPortForwardingSession", "Owner": "arn:aws:iam::123456789012:user/Mary-Major", "OutputUrl": {"S3OutputUrl": "", "CloudWatchOutputUrl": ""}}`
	sessS3     = `{"SessionId": "Jane-Roe-0a1b2c3d4e5f6a7b8", "Target": "mi-0123456789abcdef2", "Status": "Terminated", "StartDate": 1541538000, "EndDate": 1541539000.123, "DocumentName": "SSM-SessionManagerRunShell", "Owner": "arn:aws:iam::123456789012:user/Jane-Roe", "Details": "terminated by user", "OutputUrl": {"S3OutputUrl": "https://s3.us-east-1.amazonaws.com/bucket/Jane-Roe-0a1b2c3d4e5f6a7b8.log", "CloudWatchOutputUrl": "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEventViewer:group=g;stream=Jane-Roe-0a1b2c3d4e5f6a7b8"}}`
	// Tether's own canned answers for the activation operations.
	activation1 = `{"ActivationId": "4e3c7e7b-1a2b-4c3d-9e8f-0123456789ab", "Description": "lab servers", "DefaultInstanceName": "lab", "IamRole": "SSMServiceRole", "RegistrationLimit": 10, "RegistrationsCount": 2, "ExpirationDate": 1541624701.5, "Expired": false, "CreatedDate": 1541538301, "Tags": [{"Key": "Environment", "Value": "Production"}]}`
	activation2 = `{"ActivationId": "5f4d8f8c-2b3c-4d4e-8f90-123456789abc", "IamRole": "SSMServiceRole", "RegistrationLimit": 1, "RegistrationsCount": 0, "ExpirationDate": 1541624701, "Expired": true, "CreatedDate": 1541538301.25, "Tags": []}`
	instance1   = `{"InstanceId": "mi-0123456789abcdef2", "PingStatus": "Online", "LastPingDateTime": 1541538301.214, "AgentVersion": "3.2.582.0", "IsLatestVersion": false, "PlatformType": "Linux", "PlatformName": "Debian GNU/Linux", "PlatformVersion": "12", "ActivationId": "4e3c7e7b-1a2b-4c3d-9e8f-0123456789ab", "IamRole": "SSMServiceRole", "RegistrationDate": 1541538000, "ResourceType": "ManagedInstance", "Name": "lab-1", "IPAddress": "10.0.0.12", "ComputerName": "lab-1.example.com", "AssociationStatus": "Success", "LastAssociationExecutionDate": 1541538000.5, "LastSuccessfulAssociationExecutionDate": 1541538000.5, "AssociationOverview": {"DetailedStatus": "Success", "InstanceAssociationStatusAggregatedCount": {"Success": 2, "Failed": 0}}, "SourceId": "mi-0123456789abcdef2", "SourceType": "AWS::SSM::ManagedInstance"}`
	instance2   = `{"InstanceId": "i-1234567890abcdef0", "PingStatus": "ConnectionLost", "LastPingDateTime": 1541530000, "AgentVersion": "3.1.0.0", "IsLatestVersion": true, "PlatformType": "Windows", "PlatformName": "Microsoft Windows Server 2019 Datacenter", "PlatformVersion": "10.0.17763", "ResourceType": "EC2Instance", "IPAddress": "172.31.0.5", "ComputerName": "WIN-ABC"}`
)

// canned dispatches on X-Amz-Target as §1.4 describes.
func canned(target string, body []byte) (int, []byte) {
	var req map[string]any
	_ = json.Unmarshal(body, &req)
	str := func(k string) string {
		s, _ := req[k].(string)
		return s
	}
	op := strings.TrimPrefix(target, "AmazonSSM.")
	switch op {
	case "StartSession", "ResumeSession":
		return 200, []byte(sampleResp)
	case "TerminateSession":
		return 200, []byte(fmt.Sprintf(`{"SessionId": %s}`, pyJSONString(str("SessionId"), true)))
	case "GetConnectionStatus":
		return 200, []byte(fmt.Sprintf(`{"Target": %s, "Status": "connected"}`, pyJSONString(str("Target"), true)))
	case "DescribeSessions":
		if str("State") == "History" {
			return 200, []byte(`{"Sessions": [` + sessS3 + `]}`)
		}
		return paged(req, `{"Sessions": [`+sessS1+`], "NextToken": "page2"}`, `{"Sessions": [`+sessS2+`], "NextToken": "page3"}`, `{"Sessions": []}`)
	case "CreateActivation":
		return 200, []byte(`{"ActivationId": "4e3c7e7b-1a2b-4c3d-9e8f-0123456789ab", "ActivationCode": "Aw3SAMPLEcode+/x=="}`)
	case "DeleteActivation":
		return 200, []byte(`{}`)
	case "DescribeActivations":
		return paged(req, `{"ActivationList": [`+activation1+`], "NextToken": "page2"}`, `{"ActivationList": [`+activation2+`]}`, "")
	case "DescribeInstanceInformation":
		return paged(req, `{"InstanceInformationList": [`+instance1+`], "NextToken": "page2"}`, `{"NextToken": "page3", "InstanceInformationList": [`+instance2+`]}`, `{"InstanceInformationList": []}`)
	}
	return 400, []byte(`{"__type": "UnknownOperationException"}`)
}

func paged(req map[string]any, p1, p2, p3 string) (int, []byte) {
	tok, has := req["NextToken"]
	switch {
	case !has:
		return 200, []byte(p1)
	case tok == "page2":
		return 200, []byte(p2)
	case tok == "page3" && p3 != "":
		return 200, []byte(p3)
	}
	return 400, []byte(`{"__type": "InvalidNextToken", "Message": "The specified token isn't valid."}`)
}

// testCA is a throw-away CA and a server certificate for 127.0.0.1 and
// localhost.
type testCA struct {
	pem    []byte
	server tls.Certificate
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tether test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: append([]string{"localhost"}, awsHostNames...), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{
		pem:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		server: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
	}
}

// awsHostNames are the real SSM endpoints the default-endpoint cases
// resolve; the test CA certifies them and connectProxy routes them to the
// fake server.
var awsHostNames = []string{"ssm.us-east-1.amazonaws.com", "ssm.eu-west-1.amazonaws.com",
	"ssm-fips.us-east-1.amazonaws.com", "ssm.us-east-1.api.aws", "ssm.cn-north-1.amazonaws.com.cn"}

// connectProxy is an HTTP CONNECT proxy that sends every tunnel to one
// address, so that clients using HTTPS_PROXY reach the fake server under
// the real AWS host names without touching /etc/hosts.
func connectProxy(t *testing.T, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil || req.Method != http.MethodConnect {
					return
				}
				up, err := net.Dial("tcp", target)
				if err != nil {
					fmt.Fprintf(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
					return
				}
				defer up.Close()
				fmt.Fprintf(c, "HTTP/1.1 200 Connection established\r\n\r\n")
				go func() {
					_, _ = io.Copy(up, br)
					up.Close()
				}()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	return ln.Addr().String()
}
