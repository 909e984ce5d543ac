// Package api is Tether's AWS-compatible control-plane endpoint: the
// http.Handler for `POST /` that authenticates callers with SigV4 against the
// configured principals, checks the action against their policy, and
// dispatches AmazonSSM.<Operation> to the session and node services. The
// operations and input constraints come from ssm-model.json, a subset of
// botocore's SSM model (regenerate it with genmodel.py).
//
// Only the server's assembly point (internal/cli) imports this package.
package api

import (
	"context"
	_ "embed"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/tether-ssm/tether/internal/auth"
	"github.com/tether-ssm/tether/internal/awsjson"
	"github.com/tether-ssm/tether/internal/nodes"
	"github.com/tether-ssm/tether/internal/sessions"
	"github.com/tether-ssm/tether/internal/sigv4"
)

//go:embed ssm-model.json
var modelJSON []byte

// Model parses the embedded SSM model.
func Model() (*awsjson.Model, error) { return awsjson.ParseModel(modelJSON) }

// Config configures the API.
type Config struct {
	// Region, when set, is the only region accepted in SigV4 credential
	// scopes. Empty accepts any region.
	Region string
	// MaxSkew is the accepted clock skew of signed requests. Zero means 5 minutes.
	MaxSkew time.Duration
	// MaxBodyBytes bounds request bodies. Zero means 1 MiB.
	MaxBodyBytes int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultConfig returns the defaults (any region, 5 minutes, 1 MiB).
func DefaultConfig() Config { return Config{MaxSkew: 5 * time.Minute, MaxBodyBytes: 1 << 20} }

// Services are what the API dispatches to.
type Services struct {
	Sessions   *sessions.Service
	Nodes      *nodes.Service
	Principals *auth.Directory
}

// New returns the API handler. log nil discards.
func New(cfg Config, svc Services, log *slog.Logger) (http.Handler, error) {
	model, err := Model()
	if err != nil {
		return nil, err
	}
	if svc.Sessions == nil || svc.Nodes == nil || svc.Principals == nil {
		return nil, errors.New("api: sessions, nodes and principals are required")
	}
	ver := sigv4.New(sigv4.Config{Services: []string{"ssm"}, Region: cfg.Region, MaxSkew: cfg.MaxSkew, Now: cfg.Now},
		func(_ context.Context, key string) (sigv4.Credentials, error) {
			p, ok := svc.Principals.Lookup(key)
			if !ok {
				return sigv4.Credentials{}, sigv4.ErrUnknownKey
			}
			return sigv4.Credentials{AccessKeyID: p.AccessKeyID, SecretAccessKey: p.SecretAccessKey, SessionToken: p.SessionToken}, nil
		})
	authenticate := func(r *http.Request, body []byte) (context.Context, error) {
		res, err := ver.Verify(r.Context(), r, body)
		if err != nil {
			var se *sigv4.Error
			if errors.As(err, &se) {
				return nil, &awsjson.Error{Code: awsjson.Code(se.Code), Message: se.Message}
			}
			return nil, awsjson.Internal(err)
		}
		p, _ := svc.Principals.Lookup(res.AccessKeyID)
		return auth.WithPrincipal(r.Context(), p), nil
	}
	r := awsjson.NewRouter(model, awsjson.Config{MaxBodyBytes: cfg.MaxBodyBytes}, authenticate, log)
	ss, ns := svc.Sessions, svc.Nodes
	handle(r, "StartSession", ss.StartSession)
	handle(r, "ResumeSession", ss.ResumeSession)
	handle(r, "TerminateSession", ss.TerminateSession)
	handle(r, "DescribeSessions", ss.DescribeSessions)
	handle(r, "GetConnectionStatus", anyCaller(ns.GetConnectionStatus))
	handle(r, "CreateActivation", anyCaller(ns.CreateActivation))
	handle(r, "DescribeActivations", anyCaller(ns.DescribeActivations))
	handle(r, "DeleteActivation", anyCaller(ns.DeleteActivation))
	handle(r, "DescribeInstanceInformation", anyCaller(ns.DescribeInstanceInformation))
	return r, nil
}

// handle registers an operation behind the policy's action check.
func handle[In, Out any](r *awsjson.Router, op string, fn func(context.Context, *auth.Principal, *In) (*Out, error)) {
	action := "ssm:" + op
	awsjson.Handle(r, op, func(ctx context.Context, in *In) (*Out, error) {
		p := auth.FromContext(ctx)
		if p == nil {
			return nil, awsjson.NewError(awsjson.CodeMissingAuthToken)
		}
		if !p.MayPerform(action) {
			return nil, awsjson.Errorf(awsjson.CodeAccessDenied, "User: %s is not authorized to perform: %s", p.ARN, action)
		}
		return fn(ctx, p, in)
	})
}

// anyCaller adapts an operation that does not depend on the caller.
func anyCaller[In, Out any](fn func(context.Context, *In) (*Out, error)) func(context.Context, *auth.Principal, *In) (*Out, error) {
	return func(ctx context.Context, _ *auth.Principal, in *In) (*Out, error) { return fn(ctx, in) }
}
