package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/tether-ssm/tether/internal/nodes"
	"github.com/tether-ssm/tether/internal/store"
)

// Registrar registers managed nodes (the nodes service).
type Registrar interface {
	Register(ctx context.Context, in nodes.RegisterInput) (store.Node, error)
}

// RegisterRequest is the body of POST /v1/register, sent by
// `tether agent register`. The activation code authenticates it.
type RegisterRequest struct {
	ActivationID    string `json:"ActivationId"`
	ActivationCode  string `json:"ActivationCode"`
	AgentVersion    string `json:"AgentVersion"`
	PlatformType    string `json:"PlatformType"`
	PlatformName    string `json:"PlatformName"`
	PlatformVersion string `json:"PlatformVersion"`
	ComputerName    string `json:"ComputerName"`
	IPAddress       string `json:"IPAddress"`
}

// RegisterResponse carries the node's identity and credentials.
type RegisterResponse struct {
	InstanceID      string `json:"InstanceId"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
}

// RegisterError is the JSON error body of /v1/register.
type RegisterError struct {
	Type    string `json:"__type"`
	Message string `json:"Message"`
}

// serveRegister registers a node with an activation id and code.
func (g *Gateway) serveRegister(w http.ResponseWriter, r *http.Request) {
	if g.registrar == nil {
		writeJSON(w, http.StatusNotFound, RegisterError{"UnknownOperationException", "registration is not enabled on this server"})
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, RegisterError{"SerializationException", err.Error()})
		return
	}
	var req RegisterRequest
	if err := json.Unmarshal(body, &req); err != nil || req.ActivationID == "" || req.ActivationCode == "" {
		writeJSON(w, http.StatusBadRequest, RegisterError{"ValidationException", "ActivationId and ActivationCode are required"})
		return
	}
	n, err := g.registrar.Register(r.Context(), nodes.RegisterInput{
		ActivationID: req.ActivationID, ActivationCode: req.ActivationCode, AgentVersion: req.AgentVersion,
		PlatformType: platformType(req.PlatformType), PlatformName: req.PlatformName,
		PlatformVersion: req.PlatformVersion, ComputerName: req.ComputerName, IPAddress: req.IPAddress,
	})
	switch {
	case errors.Is(err, nodes.ErrInvalidActivation):
		writeJSON(w, http.StatusBadRequest, RegisterError{"InvalidActivation", "The activation ID or code is not valid."})
	case errors.Is(err, store.ErrActivationExpired):
		writeJSON(w, http.StatusBadRequest, RegisterError{"InvalidActivation", "The activation has expired."})
	case errors.Is(err, store.ErrRegistrationLimit):
		writeJSON(w, http.StatusBadRequest, RegisterError{"InvalidActivation", "The activation has reached its registration limit."})
	case err != nil:
		g.log.Error("register node", "err", err)
		writeJSON(w, http.StatusInternalServerError, RegisterError{"InternalServerError", "internal error"})
	default:
		writeJSON(w, http.StatusOK, RegisterResponse{InstanceID: n.ID, AccessKeyID: n.AccessKeyID, SecretAccessKey: n.SecretAccessKey})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
