package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// SSMResumer returns a Config.Resume that calls ResumeSession on an
// SSM-compatible endpoint with the usual AWS configuration (environment,
// shared files, profile); credentials are loaded, and refreshed when they
// expire, by aws-sdk-go-v2. An empty endpoint means the region's default.
// tc, if not nil, is the TLS configuration of the calls; a CA bundle of the
// AWS configuration (AWS_CA_BUNDLE, ca_bundle) is trusted as well.
func SSMResumer(ctx context.Context, sessionID, endpoint, region, profile string, tc *tls.Config) (func(context.Context) (string, error), error) {
	opts := []func(*config.LoadOptions) error{}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	if tc != nil {
		// A BuildableClient, so that the SDK can add its own CA bundle
		// (to a copy of the pool: tc may be in use elsewhere).
		c := tc.Clone()
		if c.RootCAs != nil {
			c.RootCAs = c.RootCAs.Clone()
		}
		opts = append(opts, config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.TLSClientConfig = c
		})))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	api := ssm.NewFromConfig(cfg, func(o *ssm.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	return func(ctx context.Context) (string, error) {
		out, err := api.ResumeSession(ctx, &ssm.ResumeSessionInput{SessionId: aws.String(sessionID)})
		var dne *types.DoesNotExistException
		switch {
		case errors.As(err, &dne):
			return "", fmt.Errorf("%w: %s", ErrSessionEnded, dne.ErrorMessage())
		case err != nil:
			return "", err
		case out.TokenValue == nil || *out.TokenValue == "":
			return "", fmt.Errorf("%w: Session: %s timed out.", ErrSessionEnded, sessionID)
		}
		return *out.TokenValue, nil
	}, nil
}
