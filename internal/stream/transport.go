package stream

import "context"

// Transport moves whole wire frames between the two endpoints of a stream: a
// websocket in production (binary messages), an in-memory pipe in tests
// (streamtest.Pipe). It is unreliable as far as the endpoint cares: it may
// lose frames, fail, or go silent; the endpoint recovers from all of that.
//
// Contract, relied on by Endpoint:
//   - Send delivers frame as one message, in order with earlier Sends. It
//     must not modify frame, and must not retain it after returning (the
//     endpoint reuses buffers). It may block; it must return when ctx is
//     done or the transport is closed.
//   - Recv returns the next message. The returned slice belongs to the
//     caller: the endpoint keeps it and hands parts of it to the
//     application. It must return when ctx is done or the transport is
//     closed.
//   - The endpoint calls Send from one goroutine at a time and Recv from one
//     goroutine at a time; Close may be called at any time, from any
//     goroutine, more than once, and must unblock Send and Recv.
type Transport interface {
	Send(ctx context.Context, frame []byte) error
	Recv(ctx context.Context) ([]byte, error)
	Close() error
}
