package ssmcli

import (
	"errors"
	"fmt"
	"io"
)

// Exit codes of AWS CLI v2.
const (
	exitOK         = 0
	exitUsage      = 252 // argument parsing and client-side validation
	exitConfig     = 253 // no region, no credentials, bad configuration value
	exitService    = 254 // the service returned an error
	exitGeneral    = 255 // everything else
	exitPluginFail = 255
)

// configError is a 253 configuration error.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

// generalError is a 255 error printed verbatim.
type generalError struct{ msg string }

func (e *generalError) Error() string { return e.msg }

// serviceError is an error response from the service after retries.
type serviceError struct {
	code, message, operation string
	retries                  int
	maxAttemptsReached       bool
	status                   int
}

func (e *serviceError) Error() string {
	retry := ""
	if e.maxAttemptsReached {
		retry = fmt.Sprintf(" (reached max retries: %d)", e.retries)
	}
	return fmt.Sprintf("An error occurred (%s) when calling the %s operation%s: %s", e.code, e.operation, retry, e.message)
}

// reportError writes err to stderr as awscli does and returns the exit code.
func reportError(w io.Writer, err error) int {
	var ae *argError
	var ue *unknownArgsError
	var pe *paramError
	var ve *validationError
	var ce *configError
	var se *serviceError
	switch {
	case errors.As(err, &ae):
		fmt.Fprintf(w, "\n%s\naws: error: %s\n\n", usageBlock, ae.msg)
		return exitUsage
	case errors.As(err, &ue):
		fmt.Fprintf(w, "\n%s\n%s\n\n", usageBlock, ue.Error())
		return exitUsage
	case errors.As(err, &pe), errors.As(err, &ve):
		fmt.Fprintf(w, "\n%s\n", err.Error())
		return exitUsage
	case errors.As(err, &ce):
		fmt.Fprintf(w, "\n%s\n", ce.msg)
		return exitConfig
	case errors.As(err, &se):
		fmt.Fprintf(w, "\n%s\n", se.Error())
		return exitService
	}
	fmt.Fprintf(w, "\n%s\n", err.Error())
	return exitGeneral
}
