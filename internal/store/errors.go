package store

import "errors"

// Errors returned by every Store implementation; test with errors.Is.
var (
	ErrNotFound          = errors.New("not found")
	ErrExists            = errors.New("already exists")
	ErrActivationExpired = errors.New("activation expired")
	ErrRegistrationLimit = errors.New("activation registration limit reached")
)
