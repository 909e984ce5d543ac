package gateway

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"

	"github.com/coder/websocket"
)

// acceptSocket upgrades a request to a websocket. With bufSize > 0 the
// socket's read and write buffers are bufSize bytes instead of net/http's
// 4 KiB each: an idle client data channel holds its buffers for as long as
// it is open, and they are most of what it costs. Larger messages are read
// and written past the buffers, straight from and to the socket.
func acceptSocket(w http.ResponseWriter, r *http.Request, bufSize int, subprotocols ...string) (*websocket.Conn, error) {
	if bufSize > 0 {
		w = &smallBuffers{ResponseWriter: w, size: bufSize}
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // not a browser endpoint: tokens and signatures, not origins, authenticate
		CompressionMode:    websocket.CompressionDisabled,
		Subprotocols:       subprotocols,
	})
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(16 << 20)
	return conn, nil
}

// smallBuffers hijacks the connection with buffers of its own size.
type smallBuffers struct {
	http.ResponseWriter
	size int
}

func (s *smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := s.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil { // the 101 response, if still buffered
		conn.Close()
		return nil, nil, err
	}
	n := brw.Reader.Buffered() // bytes the client sent after its request
	if n > s.size {
		return conn, brw, nil // rare: keep net/http's buffers
	}
	br := bufio.NewReaderSize(conn, s.size)
	if n > 0 {
		// Move them into the new buffer (websocket.Accept resets the
		// reader's source, keeping only what is buffered).
		b, _ := brw.Reader.Peek(n)
		br.Reset(io.MultiReader(bytes.NewReader(bytes.Clone(b)), conn))
		if _, err := br.Peek(n); err != nil {
			conn.Close()
			return nil, nil, err
		}
	}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(conn, s.size)), nil
}

func (s *smallBuffers) Unwrap() http.ResponseWriter { return s.ResponseWriter }
