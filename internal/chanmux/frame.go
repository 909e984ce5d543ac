package chanmux

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Frame types. Every mux frame is one message of the link:
//
//	type (1 byte) | channel id (4 bytes, big-endian) | body
const (
	typeData   = byte(0) // body: one whole frame of the channel
	typeOpen   = byte(1) // body: name length (2 bytes BE) | name | open data
	typeCredit = byte(2) // body: bytes granted (4 bytes BE, > 0)
	typeClose  = byte(3) // body: reason (UTF-8 text, may be empty)

	headerLen = 5
	// maxName bounds a channel's name (a session id is under 400 bytes).
	maxName = 1024
	// maxOpenData bounds the data carried by an OPEN frame.
	maxOpenData = 64 << 10
	// frameOverhead is added to every data frame's length when it is
	// counted against a window, so that a flood of tiny frames is bounded
	// too.
	frameOverhead = 64
)

// ErrProtocol is wrapped by errors about frames a peer should not have
// sent; the connection fails with it.
var ErrProtocol = errors.New("chanmux: protocol violation")

// frame is a decoded mux frame. body aliases the link's message.
type frame struct {
	typ  byte
	id   uint32
	body []byte
}

// parseFrame splits one link message into a frame. It checks the type and
// the fixed-size bodies; OPEN bodies are checked by parseOpen.
func parseFrame(b []byte) (frame, error) {
	if len(b) < headerLen {
		return frame{}, fmt.Errorf("%w: frame of %d bytes", ErrProtocol, len(b))
	}
	f := frame{typ: b[0], id: binary.BigEndian.Uint32(b[1:5]), body: b[headerLen:]}
	switch f.typ {
	case typeData, typeClose:
	case typeOpen:
		if _, _, err := parseOpen(f.body); err != nil {
			return frame{}, err
		}
	case typeCredit:
		if len(f.body) != 4 || binary.BigEndian.Uint32(f.body) == 0 {
			return frame{}, fmt.Errorf("%w: bad credit body of %d bytes", ErrProtocol, len(f.body))
		}
	default:
		return frame{}, fmt.Errorf("%w: unknown frame type %d", ErrProtocol, f.typ)
	}
	return f, nil
}

// parseOpen splits an OPEN body into the channel's name and open data.
func parseOpen(body []byte) (name string, data []byte, err error) {
	if len(body) < 2 {
		return "", nil, fmt.Errorf("%w: open body of %d bytes", ErrProtocol, len(body))
	}
	n := int(binary.BigEndian.Uint16(body))
	if n == 0 || n > maxName || len(body) < 2+n {
		return "", nil, fmt.Errorf("%w: bad channel name length %d", ErrProtocol, n)
	}
	data = body[2+n:]
	if len(data) > maxOpenData {
		return "", nil, fmt.Errorf("%w: open data of %d bytes", ErrProtocol, len(data))
	}
	return string(body[2 : 2+n]), data, nil
}

// appendHeader appends a frame header to dst.
func appendHeader(dst []byte, typ byte, id uint32) []byte {
	return binary.BigEndian.AppendUint32(append(dst, typ), id)
}

// openFrame builds an OPEN frame.
func openFrame(id uint32, name string, data []byte) ([]byte, error) {
	if name == "" || len(name) > maxName {
		return nil, fmt.Errorf("chanmux: channel name of %d bytes", len(name))
	}
	if len(data) > maxOpenData {
		return nil, fmt.Errorf("chanmux: open data of %d bytes", len(data))
	}
	b := appendHeader(make([]byte, 0, headerLen+2+len(name)+len(data)), typeOpen, id)
	b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
	return append(append(b, name...), data...), nil
}

// creditFrame builds a CREDIT frame granting n bytes.
func creditFrame(id uint32, n uint32) []byte {
	return binary.BigEndian.AppendUint32(appendHeader(make([]byte, 0, headerLen+4), typeCredit, id), n)
}

// closeFrame builds a CLOSE frame.
func closeFrame(id uint32, reason string) []byte {
	if len(reason) > 512 {
		reason = reason[:512]
	}
	return append(appendHeader(make([]byte, 0, headerLen+len(reason)), typeClose, id), reason...)
}

// cost is what a data frame of n bytes counts against a window.
func cost(n int) int64 { return int64(n) + frameOverhead }
