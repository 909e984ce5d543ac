package gateway

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tether-ssm/tether/internal/sigv4"
	"github.com/tether-ssm/tether/internal/store"
	"github.com/tether-ssm/tether/internal/token"
)

// httpError is an error with the status and AWS error type to answer with.
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.code + ": " + e.msg }

func accessDenied(format string, args ...any) error {
	return &httpError{http.StatusForbidden, "AccessDeniedException", fmt.Sprintf(format, args...)}
}

// writeXMLError answers a REST call or upgrade with an XML error body, the
// form the real agent reads (it looks for "<AccessDeniedException>" and
// "Session is already terminated").
func writeXMLError(w http.ResponseWriter, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		he = &httpError{http.StatusInternalServerError, "InternalServerError", "internal error"}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "<%s><Message>", he.code)
	xml.EscapeText(&b, []byte(he.msg))
	fmt.Fprintf(&b, "</Message></%s>", he.code)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(he.status)
	w.Write(b.Bytes())
}

// verifyNode checks the request's SigV4 signature (service ssmmessages)
// and that the signing key belongs to nodeID.
func (g *Gateway) verifyNode(r *http.Request, body []byte, nodeID string) (store.Node, error) {
	res, err := g.verifier.Verify(r.Context(), r, body)
	if err != nil {
		var se *sigv4.Error
		if errors.As(err, &se) {
			return store.Node{}, &httpError{http.StatusForbidden, se.Code, se.Message}
		}
		return store.Node{}, accessDenied("%v", err)
	}
	n, err := g.store.GetNodeByAccessKey(r.Context(), res.AccessKeyID)
	if err != nil {
		return store.Node{}, accessDenied("unknown node credentials")
	}
	if n.ID != nodeID {
		return store.Node{}, accessDenied("credentials of %s cannot act for %s", n.ID, nodeID)
	}
	return n, nil
}

func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil {
		return nil, err
	}
	if len(b) > 64<<10 {
		return nil, &httpError{http.StatusRequestEntityTooLarge, "ValidationException", "request body too large"}
	}
	return b, nil
}

type channelOutput struct {
	XMLName              xml.Name
	MessageSchemaVersion string `xml:"MessageSchemaVersion"`
	TokenValue           string `xml:"TokenValue"`
}

func writeToken(w http.ResponseWriter, root, tok string) {
	b, _ := xml.Marshal(channelOutput{XMLName: xml.Name{Local: root}, MessageSchemaVersion: "1.0", TokenValue: tok})
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusCreated)
	w.Write(b)
}

// serveCreateControlChannel mints a control-channel token for a node.
func (g *Gateway) serveCreateControlChannel(w http.ResponseWriter, r *http.Request, nodeID string) {
	body, err := readBody(r)
	if err == nil {
		_, err = g.verifyNode(r, body, nodeID)
	}
	if err != nil {
		writeXMLError(w, err)
		return
	}
	writeToken(w, "CreateControlChannelOutput", g.controlToken(nodeID))
}

// serveCreateDataChannel mints an agent token for one of the node's
// sessions.
func (g *Gateway) serveCreateDataChannel(w http.ResponseWriter, r *http.Request, sessionID string) {
	body, err := readBody(r)
	if err != nil {
		writeXMLError(w, err)
		return
	}
	sess, err := g.store.GetSession(r.Context(), sessionID)
	if err != nil {
		writeXMLError(w, &httpError{http.StatusBadRequest, "ValidationException", "Session is already terminated"})
		return
	}
	if _, err := g.verifyNode(r, body, sess.Target); err != nil {
		writeXMLError(w, err)
		return
	}
	if sess.Status.Ended() {
		writeXMLError(w, &httpError{http.StatusBadRequest, "ValidationException", "Session is already terminated"})
		return
	}
	now := g.now()
	tok, err := g.tokens.Seal(token.Claims{
		SessionID: sessionID, Role: token.RoleAgent, Principal: "node/" + sess.Target,
		IssuedAt: now, Expiry: now.Add(g.cfg.TokenTTL),
	})
	if err != nil {
		writeXMLError(w, err)
		return
	}
	writeToken(w, "CreateDataChannelOutput", tok)
}

const purposeControl = "tether-control-channel"

// controlToken mints a token naming nodeID, valid for TokenTTL.
func (g *Gateway) controlToken(nodeID string) string {
	exp := binary.BigEndian.AppendUint64(nil, uint64(g.now().Add(g.cfg.TokenTTL).Unix()))
	return g.tokens.SealValue(purposeControl, append(exp, nodeID...))
}

func (g *Gateway) verifyControlToken(tok, nodeID string) error {
	if len(tok) > 1024 {
		return token.ErrMalformed
	}
	pt, err := g.tokens.OpenValue(purposeControl, tok)
	if err != nil {
		return err
	}
	if len(pt) < 8 || string(pt[8:]) != nodeID {
		return fmt.Errorf("control token is not for %s", nodeID)
	}
	if exp := time.Unix(int64(binary.BigEndian.Uint64(pt[:8])), 0); !g.now().Before(exp) {
		return token.ErrExpired
	}
	return nil
}
