// Package awsjson is the server side of the AWS JSON 1.1 protocol: it routes
// `POST /` requests on their X-Amz-Target header to typed operation handlers,
// validates every input against the service model (botocore's shapes) with
// AWS's exact ValidationException wording, limits the body size, stamps an
// x-amzn-RequestId on every response, and writes AWS-shaped errors
// ({"__type": …, "Message": …}) from one error table (errors.go).
//
// The package knows nothing of SSM: a Router is built from a Model, gets an
// Authenticator (SigV4, in practice) and has handlers registered with Handle.
// It imports only the standard library.
package awsjson

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strings"
)

// ContentType is the media type of AWS JSON 1.1 requests and responses.
const ContentType = "application/x-amz-json-1.1"

// Config configures a Router.
type Config struct {
	// MaxBodyBytes bounds the request body; larger bodies get a 413
	// RequestEntityTooLargeException. Zero means 1 MiB.
	MaxBodyBytes int64
}

// DefaultConfig returns the default configuration.
func DefaultConfig() Config { return Config{MaxBodyBytes: 1 << 20} }

// Authenticator authenticates a request whose body has been read. It returns
// the context the handler runs with (carrying the caller) or an error, which
// is written as an *Error (other errors become InternalServerError).
type Authenticator func(r *http.Request, body []byte) (context.Context, error)

type handlerFunc func(ctx context.Context, body []byte) (any, error)

// Router serves one AWS JSON 1.1 service. Register every operation with
// Handle before serving; a Router is then safe for concurrent use.
type Router struct {
	cfg    Config
	model  *Model
	log    *slog.Logger
	auth   Authenticator
	ops    map[string]handlerFunc // operation name → handler
	prefix string                 // target prefix with the dot, "AmazonSSM."
}

// NewRouter returns a Router for the model's operations. auth may be nil
// (no authentication); log nil discards.
func NewRouter(model *Model, cfg Config, auth Authenticator, log *slog.Logger) *Router {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultConfig().MaxBodyBytes
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Router{cfg: cfg, model: model, log: log, auth: auth,
		ops: map[string]handlerFunc{}, prefix: model.Metadata.TargetPrefix + "."}
}

// Handle registers fn as the handler of operation op. The input is decoded
// into a new In after model validation; a nil *Out is written as {}. Handle
// panics if op is not in the model or is registered twice (a programming
// error at assembly time).
func Handle[In, Out any](r *Router, op string, fn func(ctx context.Context, in *In) (*Out, error)) {
	if _, ok := r.model.Operations[op]; !ok {
		panic("awsjson: operation " + op + " is not in the model")
	}
	if _, dup := r.ops[op]; dup {
		panic("awsjson: operation " + op + " registered twice")
	}
	r.ops[op] = func(ctx context.Context, body []byte) (any, error) {
		if err := r.model.decodeInput(op, body); err != nil {
			return nil, err
		}
		in := new(In)
		if len(strings.TrimSpace(string(body))) > 0 {
			if err := json.Unmarshal(body, in); err != nil {
				return nil, Errorf(CodeSerialization, "Malformed JSON request body: %v", err)
			}
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		if out == nil {
			return struct{}{}, nil
		}
		return out, nil
	}
}

type requestIDKey struct{}

// RequestID returns the x-amzn-RequestId of the request being served.
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey{}).(string)
	return s
}

// ServeHTTP serves one request.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	id := newRequestID()
	w.Header().Set("x-amzn-RequestId", id)
	ctx := context.WithValue(req.Context(), requestIDKey{}, id)
	op := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), r.prefix)
	defer func() {
		// A bug in a handler must not cost the client its connection or
		// leave it without an answer: log it and send InternalServerError.
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			r.writeError(w, op, id, Internal(fmt.Errorf("panic: %v\n%s", p, debug.Stack())))
		}
	}()
	out, err := r.serve(ctx, w, req.WithContext(ctx), op)
	if err != nil {
		r.writeError(w, op, id, err)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		r.writeError(w, op, id, Internal(fmt.Errorf("encode %s response: %w", op, err)))
		return
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b) //nolint:errcheck // the client went away
}

func (r *Router) serve(ctx context.Context, w http.ResponseWriter, req *http.Request, op string) (any, error) {
	if req.Method != http.MethodPost {
		return nil, Errorf(CodeUnknownOperation, "Only POST requests are supported.")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, Errorf(CodeRequestEntityTooLarge, "Request body exceeds the limit of %d bytes.", r.cfg.MaxBodyBytes)
		}
		return nil, Errorf(CodeSerialization, "Could not read the request body: %v", err)
	}
	if r.auth != nil {
		if ctx, err = r.auth(req, body); err != nil {
			return nil, err
		}
	}
	target := req.Header.Get("X-Amz-Target")
	h, ok := r.ops[op]
	if !ok || !strings.HasPrefix(target, r.prefix) {
		return nil, NewError(CodeUnknownOperation)
	}
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != ContentType {
		return nil, Errorf(CodeSerialization, "Content-Type %q is not supported; use %s.", req.Header.Get("Content-Type"), ContentType)
	}
	return h(ctx, body)
}

func (r *Router) writeError(w http.ResponseWriter, op, id string, err error) {
	ae := AsError(err)
	lvl := slog.LevelDebug
	if ae.Code == CodeInternalServerError {
		lvl = slog.LevelError
	}
	r.log.Log(context.Background(), lvl, "request failed", "operation", op, "request_id", id, "code", string(ae.Code), "err", err)
	b, _ := json.Marshal(ae.body()) // a map of strings always encodes
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(ae.Status())
	w.Write(b) //nolint:errcheck // the client went away
}

// newRequestID returns a random UUID (version 4) string.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
