package stream

import "errors"

// Errors returned by Endpoint methods; test with errors.Is.
var (
	// ErrClosed: the endpoint is closed (or closing, for Write).
	ErrClosed = errors.New("stream closed")
	// ErrTooLarge: a non-data payload (anything but Output and StdErr, which
	// are split) is larger than Config.MaxControlPayload.
	ErrTooLarge = errors.New("payload too large for one message")
	// ErrConfig wraps every Config.Validate error.
	ErrConfig = errors.New("invalid stream config")
)
