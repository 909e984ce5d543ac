package ssmcli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// settings is the resolved configuration of one invocation.
type settings struct {
	profile         string // explicit profile name ("" when none)
	profileExplicit bool
	region          string
	output          string
	timestampFormat string
	pager           *string // cli_pager from the config file
	caBundle        string
	maxAttempts     int
	retryMode       string
	endpointURL     string
	regionSet       bool // --region was given, possibly empty
	awsCfg          aws.Config
	loadErr         error // SDK configuration error, reported when credentials are needed
}

// iniFile holds the sections of a shared config file.
type iniFile map[string]map[string]string

func readINI(path string) (iniFile, bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	out := iniFile{}
	var cur map[string]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' && strings.HasSuffix(line, "]") {
			name := strings.TrimSpace(line[1 : len(line)-1])
			cur = map[string]string{}
			out[name] = cur
			continue
		}
		if cur == nil {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			cur[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out, true
}

func (f iniFile) profile(name string) map[string]string {
	if name == "default" {
		if s, ok := f["default"]; ok {
			return s
		}
		return f["profile default"]
	}
	return f["profile "+name]
}

// loadSettings resolves profile, region, output and the CLI-specific keys.
func loadSettings(ctx context.Context, g *globals, getenv func(string) string) (*settings, error) {
	s := &settings{output: "json", timestampFormat: "iso8601", maxAttempts: 3, retryMode: "standard"}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	cfgPath := getenv("AWS_CONFIG_FILE")
	if cfgPath == "" {
		cfgPath = filepath.Join(home, ".aws", "config")
	}
	credPath := getenv("AWS_SHARED_CREDENTIALS_FILE")
	if credPath == "" {
		credPath = filepath.Join(home, ".aws", "credentials")
	}
	s.profile = g.profile
	s.profileExplicit = g.profile != ""
	if s.profile == "" {
		if p := getenv("AWS_PROFILE"); p != "" {
			s.profile, s.profileExplicit = p, true
		} else if p := getenv("AWS_DEFAULT_PROFILE"); p != "" {
			s.profile, s.profileExplicit = p, true
		}
	}
	name := s.profile
	if name == "" {
		name = "default"
	}
	cfgFile, _ := readINI(cfgPath)
	credFile, _ := readINI(credPath)
	prof := cfgFile.profile(name)
	if s.profileExplicit && prof == nil && credFile[name] == nil {
		return nil, &generalError{fmt.Sprintf("The config profile (%s) could not be found", name)}
	}
	get := func(env, key string) (string, bool) {
		if env != "" {
			if v := getenv(env); v != "" {
				return v, true
			}
		}
		v, ok := prof[key]
		return v, ok
	}
	if v, ok := get("AWS_DEFAULT_OUTPUT", "output"); ok {
		s.output = v
	}
	if g.output != "" {
		s.output = g.output
	}
	if v, ok := get("", "cli_timestamp_format"); ok {
		s.timestampFormat = v
	}
	if v, ok := prof["cli_pager"]; ok {
		s.pager = &v
	}
	if v, ok := get("AWS_CA_BUNDLE", "ca_bundle"); ok {
		s.caBundle = v
	}
	if g.caBundle != "" {
		s.caBundle = g.caBundle
	}
	if v, ok := get("AWS_RETRY_MODE", "retry_mode"); ok {
		s.retryMode = v
	}
	if v, ok := get("AWS_MAX_ATTEMPTS", "max_attempts"); ok {
		n, err := pyInt(v)
		if err != nil {
			return nil, &generalError{err.Error()}
		}
		s.maxAttempts = int(n)
	}
	if v, ok := get("AWS_ENDPOINT_URL", "endpoint_url"); ok {
		s.endpointURL = v
	}
	if v := getenv("AWS_ENDPOINT_URL_SSM"); v != "" {
		s.endpointURL = v
	}
	s.region, s.regionSet = g.region, g.hasRegion
	if !s.regionSet {
		s.region = getenv("AWS_REGION")
	}
	if s.region == "" && !s.regionSet {
		s.region = getenv("AWS_DEFAULT_REGION")
	}
	if s.region == "" && !s.regionSet {
		s.region = prof["region"]
	}
	opts := []func(*config.LoadOptions) error{
		config.WithSharedConfigFiles([]string{cfgPath}),
		config.WithSharedCredentialsFiles([]string{credPath}),
		config.WithRetryMode(aws.RetryModeStandard),
	}
	if s.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(s.profile))
	}
	if s.region != "" {
		opts = append(opts, config.WithRegion(s.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		var pe config.SharedConfigProfileNotExistError
		if errors.As(err, &pe) {
			return nil, &generalError{fmt.Sprintf("The config profile (%s) could not be found", name)}
		}
		if s.validateRetryMode() != nil {
			s.loadErr = err // the retry-mode error is reported first, at client creation
			return s, nil
		}
		return nil, &generalError{err.Error()}
	}
	s.awsCfg = cfg
	return s, nil
}

// validateRetryMode checks the retry mode as botocore 1.29 does.
func (s *settings) validateRetryMode() error {
	switch s.retryMode {
	case "standard", "adaptive":
		return nil
	}
	return &generalError{fmt.Sprintf(`Invalid value provided to "mode": "%s" must be one of: "standard" or "adaptive"`, s.retryMode)}
}

// credentials retrieves credentials through the SDK's default chain.
func (s *settings) credentials(ctx context.Context) (aws.Credentials, error) {
	if s.loadErr != nil {
		return aws.Credentials{}, &generalError{s.loadErr.Error()}
	}
	if s.awsCfg.Credentials == nil {
		return aws.Credentials{}, noCredentials()
	}
	c, err := s.awsCfg.Credentials.Retrieve(ctx)
	if err != nil || c.AccessKeyID == "" {
		return aws.Credentials{}, noCredentials()
	}
	return c, nil
}

func noCredentials() error {
	return &configError{`Unable to locate credentials. You can configure credentials by running "aws configure".`}
}
