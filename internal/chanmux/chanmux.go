// Package chanmux multiplexes many channels of whole frames over one
// message-oriented link (a websocket), so that an agent serves all its
// sessions' data channels over one connection to the gateway instead of one
// socket per session.
//
// # Model
//
// A Conn wraps one Link. The dialing end (Client) opens channels, each with
// a name (the session id) and opaque open data (the OpenDataChannelInput);
// the accepting end (Server) hands each new channel to a handler, which may
// refuse it by closing it with a reason. A Channel carries whole frames in
// order in both directions and is a stream.Transport (Send, Recv, Close).
//
// # Flow control
//
// Every channel has its own window in each direction: a sender may send
// while it holds credit (each frame costs its length plus a small
// overhead); each end grants its receive window (Config.Window, its own
// choice) as soon as the channel exists, queues what arrives, and grants
// credit back as its reader consumes it. The link's reader
// therefore never blocks on a slow channel: one stalled channel fills its
// own window and stops its own sender, and the others go on (no
// head-of-line blocking). What a receiver holds is bounded by Window plus
// one frame per channel; a peer that sends beyond its credit fails the
// connection with ErrProtocol.
//
// # Failure
//
// Nothing is retransmitted here: a failure of the link (or a protocol
// violation) fails the Conn and every channel on it, whose Send and Recv
// return the error. Reliability is the business of the layer above
// (internal/stream resends what was not acknowledged on the next
// transport).
//
// # Wire format
//
// Each mux frame is one link message: a type byte, a 4-byte big-endian
// channel id, and a body:
//
//	DATA   0x00  one frame of the channel
//	OPEN   0x01  name length (2 bytes BE) | name | open data   (dialer → acceptor)
//	CREDIT 0x02  bytes granted (4 bytes BE, > 0)
//	CLOSE  0x03  reason text
//
// Channel ids are chosen by the dialer, increasing from 1, never reused on
// a Conn. Frames for an unknown or closed channel are dropped (they may
// cross a CLOSE on the wire).
package chanmux

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// Subprotocol is the websocket subprotocol under which a Conn's framing is
// negotiated (the dialer asks for it; an acceptor that answers without it
// does not speak chanmux).
const Subprotocol = "tether-chanmux.1"

// Link is the message-oriented connection a Conn runs over (a websocket:
// wstransport.Transport satisfies it). Send delivers one message, in order,
// and does not retain msg after returning; Conn calls it from one goroutine
// at a time. Recv returns the next
// message, which then belongs to the caller; Conn calls it from one
// goroutine. Close unblocks both.
type Link interface {
	Send(ctx context.Context, msg []byte) error
	Recv(ctx context.Context) ([]byte, error)
	Close() error
}

// Config configures a Conn. The zero value takes the defaults.
type Config struct {
	// Window is each channel's receive window in bytes: what this end may
	// have to hold for one channel before its reader consumes it (plus at
	// most one frame); it is granted to the peer when the channel opens, so
	// the two ends need not agree. An idle channel holds nothing; a
	// channel whose reader is slow holds up to Window. Larger windows let
	// one channel go faster: the credit that reopens a window travels
	// behind the other direction's data on the same link, so a window
	// smaller than what is in flight stalls the sender (a port forward
	// echoing through one session ran ~15 % slower with 1 MiB than with
	// its own websocket, and about as fast with 4 MiB). Zero means
	// DefaultConfig's 4 MiB.
	Window int
	// Logger receives protocol events; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Window: 4 << 20}
}

func (c *Config) setDefaults() {
	if c.Window <= 0 {
		c.Window = DefaultConfig().Window
	}
	c.Window = min(c.Window, 1<<30) // granted in one 32-bit CREDIT
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// ErrConnClosed is the error of a Conn closed by Close.
var ErrConnClosed = errors.New("chanmux: connection closed")

// Conn is one multiplexed link. It is safe for concurrent use.
type Conn struct {
	link   Link
	cfg    Config
	handle func(*Channel) // acceptor: called on its own goroutine per OPEN; nil on the dialer

	ctx    context.Context // done when the Conn has failed or closed
	cancel context.CancelFunc
	wsem   chan struct{} // held while writing to the link
	openMu sync.Mutex    // serializes Open, so that ids reach the peer in order
	bufs   sync.Pool     // *[]byte: DATA messages being written

	mu     sync.Mutex // guards the following fields
	chans  map[uint32]*Channel
	nextID uint32 // dialer: last id used; acceptor: highest id opened
	err    error  // why the Conn ended; set once
	ctl    [][]byte

	ctlKick chan struct{} // wakes the control writer
	done    chan struct{} // closed when the reader has returned
}

// Client starts a Conn on link as the dialing end, which opens channels.
// The Conn owns link from now on.
func Client(link Link, cfg Config) *Conn { return start(link, cfg, nil) }

// Server starts a Conn on link as the accepting end: handle is called, each
// on its own goroutine, with every channel the peer opens. The Conn owns
// link from now on.
func Server(link Link, cfg Config, handle func(*Channel)) *Conn {
	if handle == nil {
		panic("chanmux: Server needs a handler")
	}
	return start(link, cfg, handle)
}

func start(link Link, cfg Config, handle func(*Channel)) *Conn {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{
		link: link, cfg: cfg, handle: handle, ctx: ctx, cancel: cancel,
		wsem: make(chan struct{}, 1), chans: map[uint32]*Channel{},
		ctlKick: make(chan struct{}, 1), done: make(chan struct{}),
	}
	go c.readLoop()
	go c.writeControl()
	return c
}

// Done is closed when the Conn has failed or been closed.
func (c *Conn) Done() <-chan struct{} { return c.ctx.Done() }

// Wait blocks until the Conn's reader has returned (after Done).
func (c *Conn) Wait() { <-c.done }

// Err returns why the Conn ended, or nil while it is up.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Channels returns the number of open channels.
func (c *Conn) Channels() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.chans)
}

// Close fails every channel with ErrConnClosed and closes the link.
func (c *Conn) Close() error {
	c.fail(ErrConnClosed)
	return nil
}

// Open opens a channel named name, carrying data to the acceptor. It
// returns once the OPEN frame is written: a refusal arrives as the
// channel's close (Recv and Send then fail with a *ClosedError).
func (c *Conn) Open(ctx context.Context, name string, data []byte) (*Channel, error) {
	if c.handle != nil {
		return nil, errors.New("chanmux: the accepting end cannot open channels")
	}
	c.openMu.Lock()
	defer c.openMu.Unlock()
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.nextID++
	id := c.nextID
	ch := c.newChannel(id, name, data)
	c.chans[id] = ch
	c.mu.Unlock()
	f, err := openFrame(id, name, data)
	if err == nil {
		err = c.write(ctx, ch, f)
	}
	if err != nil {
		ch.fail(err)
		return nil, err
	}
	c.queueControl(creditFrame(id, uint32(c.cfg.Window)))
	return ch, nil
}

func (c *Conn) newChannel(id uint32, name string, data []byte) *Channel {
	return &Channel{
		c: c, id: id, name: name, data: data, // no credit until the peer grants its window
		readable: make(chan struct{}, 1), writable: make(chan struct{}, 1), closed: make(chan struct{}),
	}
}

// write sends one link message, waiting for the link. A link error fails
// the Conn. ch (may be nil) aborts the wait when it closes.
func (c *Conn) write(ctx context.Context, ch *Channel, msg []byte) error {
	var chClosed <-chan struct{}
	if ch != nil {
		chClosed = ch.closed
	}
	select {
	case c.wsem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.ctx.Done():
		return c.Err()
	case <-chClosed:
		return ch.Err()
	}
	// The link's own context is the Conn's: a websocket that sees its
	// context end mid-write closes itself, which must not happen because
	// one channel gave up. A stuck link is cut by its keepalive.
	err := c.link.Send(c.ctx, msg)
	<-c.wsem
	if err != nil {
		c.fail(fmt.Errorf("chanmux: write: %w", err))
		return c.Err()
	}
	return nil
}

// maxPooled bounds the DATA buffers kept for reuse (larger ones, rare,
// are left to the GC).
const maxPooled = 128<<10 + headerLen // a 64 KiB fast-mode stream frame and its header fit

// dataMessage returns a DATA message for frame in a pooled buffer; give it
// back with putMessage once written.
func (c *Conn) dataMessage(id uint32, frame []byte) *[]byte {
	bp, _ := c.bufs.Get().(*[]byte)
	if bp == nil || cap(*bp) < headerLen+len(frame) {
		b := make([]byte, 0, max(headerLen+len(frame), 4<<10))
		bp = &b
	}
	*bp = append(appendHeader((*bp)[:0], typeData, id), frame...)
	return bp
}

func (c *Conn) putMessage(bp *[]byte) {
	if cap(*bp) <= maxPooled {
		c.bufs.Put(bp)
	}
}

// queueControl queues a small control frame (CREDIT, CLOSE) for the
// control writer, so that no caller blocks on the link for it.
func (c *Conn) queueControl(f []byte) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.ctl = append(c.ctl, f)
	c.mu.Unlock()
	select {
	case c.ctlKick <- struct{}{}:
	default:
	}
}

// writeControl writes queued control frames until the Conn ends.
func (c *Conn) writeControl() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.ctlKick:
		}
		c.mu.Lock()
		batch := c.ctl
		c.ctl = nil
		c.mu.Unlock()
		for _, f := range batch {
			if c.write(c.ctx, nil, f) != nil {
				return
			}
		}
	}
}

// fail ends the Conn with err (the first error wins), fails every channel
// and closes the link.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	chans := c.chans
	c.chans = map[uint32]*Channel{}
	c.ctl = nil
	c.mu.Unlock()
	c.cancel()
	c.link.Close()
	for _, ch := range chans {
		ch.fail(err)
	}
	if !errors.Is(err, ErrConnClosed) {
		c.cfg.Logger.Debug("mux connection failed", "err", err)
	}
}

// readLoop reads the link and dispatches its frames until it fails. It
// never blocks on a channel.
func (c *Conn) readLoop() {
	defer close(c.done)
	for {
		b, err := c.link.Recv(c.ctx)
		if err != nil {
			c.fail(fmt.Errorf("chanmux: read: %w", err))
			return
		}
		f, err := parseFrame(b)
		if err == nil {
			err = c.dispatch(f)
		}
		if err != nil {
			c.fail(err)
			return
		}
	}
}

// dispatch handles one frame from the peer.
func (c *Conn) dispatch(f frame) error {
	if f.typ == typeOpen {
		return c.accept(f)
	}
	c.mu.Lock()
	ch := c.chans[f.id]
	c.mu.Unlock()
	if ch == nil {
		return nil // closed here, or unknown: dropped
	}
	switch f.typ {
	case typeData:
		return ch.deliver(f.body)
	case typeCredit:
		ch.grant(int64(binary.BigEndian.Uint32(f.body)))
	case typeClose:
		ch.peerClosed(string(f.body))
	}
	return nil
}

// accept registers a channel the peer opened and starts its handler.
func (c *Conn) accept(f frame) error {
	if c.handle == nil {
		return fmt.Errorf("%w: OPEN sent to the dialing end", ErrProtocol)
	}
	name, data, _ := parseOpen(f.body) // checked by parseFrame
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil
	}
	if f.id <= c.nextID {
		c.mu.Unlock()
		return fmt.Errorf("%w: channel id %d reused or out of order", ErrProtocol, f.id)
	}
	c.nextID = f.id
	ch := c.newChannel(f.id, name, append([]byte(nil), data...))
	c.chans[f.id] = ch
	c.mu.Unlock()
	c.queueControl(creditFrame(f.id, uint32(c.cfg.Window)))
	go c.handle(ch)
	return nil
}

// forget removes ch from the table.
func (c *Conn) forget(ch *Channel) {
	c.mu.Lock()
	if c.chans[ch.id] == ch {
		delete(c.chans, ch.id)
	}
	c.mu.Unlock()
}
