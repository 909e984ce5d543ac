package awsjson

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Code is an AWS error type, spelled as it appears in the "__type" member of
// an error body.
type Code string

// Error codes. Every code has one row in errorTable; the constants and the
// table are kept together so that a code cannot exist without its status.
const (
	// Common to every AWS JSON endpoint (unmodelled).
	CodeUnknownOperation       Code = "UnknownOperationException"
	CodeSerialization          Code = "SerializationException"
	CodeValidation             Code = "ValidationException"
	CodeAccessDenied           Code = "AccessDeniedException"
	CodeUnrecognizedClient     Code = "UnrecognizedClientException"
	CodeInvalidSignature       Code = "InvalidSignatureException"
	CodeIncompleteSignature    Code = "IncompleteSignatureException"
	CodeMissingAuthToken       Code = "MissingAuthenticationTokenException"
	CodeExpiredToken           Code = "ExpiredTokenException"
	CodeThrottling             Code = "ThrottlingException"
	CodeRequestEntityTooLarge  Code = "RequestEntityTooLargeException"
	CodeInternalServerError    Code = "InternalServerError"
	CodeServiceUnavailable     Code = "ServiceUnavailable"
	CodeInvalidDocument        Code = "InvalidDocument"
	CodeTargetNotConnected     Code = "TargetNotConnected"
	CodeDoesNotExist           Code = "DoesNotExistException"
	CodeInvalidFilterKey       Code = "InvalidFilterKey"
	CodeInvalidNextToken       Code = "InvalidNextToken"
	CodeInvalidParameters      Code = "InvalidParameters"
	CodeInvalidFilter          Code = "InvalidFilter"
	CodeInvalidActivationID    Code = "InvalidActivationId"
	CodeInvalidActivation      Code = "InvalidActivation"
	CodeInvalidInstanceID      Code = "InvalidInstanceId"
	CodeInvalidInstanceInfoVal Code = "InvalidInstanceInformationFilterValue"
	CodeTooManyUpdates         Code = "TooManyUpdates"
)

// errorSpec is one row of the error table.
type errorSpec struct {
	Code   Code
	Status int
	// MessageKey is the body member that carries the message: "Message" for
	// errors modelled with a Message member, "message" for the
	// conventionally lower-case ones (auth, throttling, the modelled
	// InvalidInstanceInformationFilterValue).
	MessageKey string
	// Retryable reports whether AWS clients retry this error (awscli.md §6.3).
	Retryable bool
	// Default is the message used when none is given.
	Default string
}

// errorTable is the single source of the AWS error vocabulary: the Code
// constants, the HTTP statuses and the error section of the API docs
// (TestErrorTableDoc keeps docs/ssm-api-additions.md in step).
var errorTable = [...]errorSpec{
	{CodeUnknownOperation, http.StatusBadRequest, "message", false, "The requested operation is not recognized by the service."},
	{CodeSerialization, http.StatusBadRequest, "Message", false, "The request body could not be parsed."},
	{CodeValidation, http.StatusBadRequest, "message", false, "The request failed validation."},
	{CodeAccessDenied, http.StatusBadRequest, "Message", false, "Access denied."},
	{CodeUnrecognizedClient, http.StatusBadRequest, "message", false, "The security token included in the request is invalid."},
	{CodeInvalidSignature, http.StatusForbidden, "message", false, "The request signature we calculated does not match the signature you provided."},
	{CodeIncompleteSignature, http.StatusBadRequest, "message", false, "The request signature does not conform to AWS standards."},
	{CodeMissingAuthToken, http.StatusBadRequest, "message", false, "Missing Authentication Token"},
	{CodeExpiredToken, http.StatusBadRequest, "message", false, "The security token included in the request is expired"},
	{CodeThrottling, http.StatusBadRequest, "message", true, "Rate exceeded"},
	{CodeRequestEntityTooLarge, http.StatusRequestEntityTooLarge, "message", false, "Request entity too large."},
	{CodeInternalServerError, http.StatusInternalServerError, "Message", true, "An error occurred on the server side."},
	{CodeServiceUnavailable, http.StatusServiceUnavailable, "message", true, "Service unavailable."},
	{CodeInvalidDocument, http.StatusBadRequest, "Message", false, "The specified SSM document doesn't exist."},
	{CodeTargetNotConnected, http.StatusBadRequest, "Message", false, "The specified target is not connected."},
	{CodeDoesNotExist, http.StatusBadRequest, "Message", false, "The specified resource does not exist."},
	{CodeInvalidFilterKey, http.StatusBadRequest, "Message", false, "The specified key isn't valid."},
	{CodeInvalidNextToken, http.StatusBadRequest, "Message", false, "The specified token isn't valid."},
	{CodeInvalidParameters, http.StatusBadRequest, "Message", false, "You must specify values for all required parameters."},
	{CodeInvalidFilter, http.StatusBadRequest, "Message", false, "The filter name isn't valid."},
	{CodeInvalidActivationID, http.StatusBadRequest, "Message", false, "The activation ID isn't valid."},
	{CodeInvalidActivation, http.StatusBadRequest, "Message", false, "The activation isn't valid. The activation might have been deleted, or the ActivationId and the ActivationCode don't match."},
	{CodeInvalidInstanceID, http.StatusBadRequest, "Message", false, "The specified instance ID isn't valid."},
	{CodeInvalidInstanceInfoVal, http.StatusBadRequest, "message", false, "The specified filter value isn't valid."},
	{CodeTooManyUpdates, http.StatusBadRequest, "Message", true, "There are concurrent updates for a resource that supports one update at a time."},
}

func specOf(c Code) errorSpec {
	for _, s := range errorTable {
		if s.Code == c {
			return s
		}
	}
	return errorSpec{Code: c, Status: http.StatusBadRequest, MessageKey: "Message"}
}

// Status is the HTTP status AWS uses for the code (400 for unknown codes).
func (c Code) Status() int { return specOf(c).Status }

// Error is an AWS-shaped error: it is written as
// {"__type": Code, "Message"|"message": Message} with Code's HTTP status.
type Error struct {
	Code    Code
	Message string
	// Cause is an underlying error, logged but never sent to the client.
	Cause error
}

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// NewError returns an *Error with the code's default message.
func NewError(code Code) *Error { return &Error{Code: code, Message: specOf(code).Default} }

// Internal wraps an unexpected error as InternalServerError; the cause is
// logged, not sent.
func Internal(cause error) *Error {
	return &Error{Code: CodeInternalServerError, Message: specOf(CodeInternalServerError).Default, Cause: cause}
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// Status is the HTTP status of the error.
func (e *Error) Status() int { return e.Code.Status() }

// body renders the JSON error body.
func (e *Error) body() map[string]string {
	return map[string]string{"__type": string(e.Code), specOf(e.Code).MessageKey: e.Message}
}

// AsError converts any error to an *Error: an *Error anywhere in the chain is
// returned as is, anything else becomes InternalServerError.
func AsError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	return Internal(err)
}

// ErrorTableMarkdown renders the error table for the API docs
// (docs/ssm-api-additions.md, checked by TestErrorTableDoc).
func ErrorTableMarkdown() string {
	var b strings.Builder
	b.WriteString("| `__type` | HTTP status | message member | retried by AWS clients | default message |\n|---|---|---|---|---|\n")
	for _, s := range errorTable {
		retry := "no"
		if s.Retryable {
			retry = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %d | `%s` | %s | %s |\n", s.Code, s.Status, s.MessageKey, retry, s.Default)
	}
	return b.String()
}
