package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"
)

// RegisterOptions are the inputs of Register.
type RegisterOptions struct {
	Server         string // base URL of the Tether server
	Region         string // signing region of later requests; "" = us-east-1
	ActivationID   string
	ActivationCode string
	// HTTPClient makes the call; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
}

// Register registers this machine with an activation and returns the
// node's identity and credentials (save them with SaveRegistration).
func Register(ctx context.Context, o RegisterOptions) (Registration, error) {
	hostname, _ := os.Hostname()
	body, _ := json.Marshal(map[string]string{
		"ActivationId": o.ActivationID, "ActivationCode": o.ActivationCode, "AgentVersion": Version,
		"PlatformType": runtime.GOOS, "PlatformName": runtime.GOOS, "ComputerName": hostname, "IPAddress": localIP(),
	})
	url := strings.TrimSuffix(o.Server, "/") + "/v1/register"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Registration{}, fmt.Errorf("register: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Registration{}, fmt.Errorf("register with %s: %w", o.Server, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"Message"`
		}
		if json.Unmarshal(rb, &e) == nil && e.Message != "" {
			return Registration{}, fmt.Errorf("register: %s: %s", e.Type, e.Message)
		}
		return Registration{}, fmt.Errorf("register: server answered %s", resp.Status)
	}
	var out struct {
		InstanceID      string `json:"InstanceId"`
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string `json:"SecretAccessKey"`
	}
	if err := json.Unmarshal(rb, &out); err != nil || out.InstanceID == "" {
		return Registration{}, fmt.Errorf("register: bad response %q", rb)
	}
	return Registration{Server: strings.TrimSuffix(o.Server, "/"), Region: o.Region, NodeID: out.InstanceID,
		AccessKeyID: out.AccessKeyID, SecretAccessKey: out.SecretAccessKey}, nil
}
