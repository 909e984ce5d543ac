package wire

import "errors"

// Errors returned by Decode (the receiver-side checks of protocol.md §3.5).
// Test for them with errors.Is.
var (
	// ErrTruncated: the frame is shorter than the 120-byte header, or its
	// HeaderLength points past the end. (The plugin rejects frames shorter
	// than 116 bytes and panics on 116–119; both are this error here.)
	ErrTruncated = errors.New("message shorter than its header")
	// ErrHeaderLength: HeaderLength is zero.
	ErrHeaderLength = errors.New("header length is zero")
	// ErrMissingType: MessageType is empty after trimming NULs and spaces.
	ErrMissingType = errors.New("message type is missing")
	// ErrMissingCreatedDate: CreatedDate is zero.
	ErrMissingCreatedDate = errors.New("created date is missing")
	// ErrDigest: PayloadLength is non-zero and the payload's SHA-256 does not
	// match PayloadDigest.
	ErrDigest = errors.New("payload digest mismatch")
)

// Errors returned by Encode for messages the real peers would reject.
var (
	// ErrTypeTooLong: MessageType is longer than 32 bytes.
	ErrTypeTooLong = errors.New("message type longer than 32 bytes")
	// ErrTypeNotCanonical: MessageType would read back differently after the
	// receiver trims NULs and spaces from its ends.
	ErrTypeNotCanonical = errors.New("message type has leading or trailing padding")
	// ErrPayloadTooLarge: the payload does not fit in PayloadLength.
	ErrPayloadTooLarge = errors.New("payload too large")
)

// ErrBadPayload is returned (wrapped) by the payload parsers for a payload
// that is not of the expected shape.
var ErrBadPayload = errors.New("malformed payload")
