package tcp

import (
	"io"
	"net"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// The per-connection knobs of net.TCPConn, and a few Linux socket options.

// locked runs f on the connection's core with the endpoint locked and
// sends what it queued; it fails after Close.
func (c *Conn) locked(op string, f func(now time.Time)) error {
	e := c.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.userClosed {
		return c.opErr(op, net.ErrClosed)
	}
	now := e.p.clock.Now()
	f(now)
	e.afterUser(now)
	return nil
}

// SetNoDelay controls Nagle's algorithm. As with net.TCPConn the default
// is true (no delay): small writes go out at once. With false, a short
// segment waits while earlier data is unacknowledged.
func (c *Conn) SetNoDelay(noDelay bool) error {
	return c.locked("set", func(time.Time) { c.e.c.noDelay = noDelay })
}

// SetKeepAlive turns keepalive probes on or off (off by default). An idle
// connection is probed after the keepalive idle time (Options, default
// 2h), then every interval (75s); after the configured number of
// unanswered probes (9) it fails with ETIMEDOUT.
func (c *Conn) SetKeepAlive(keepalive bool) error {
	return c.locked("set", func(now time.Time) { c.e.c.setKeepAlive(now, keepalive) })
}

// SetKeepAlivePeriod sets both the idle time before the first probe and
// the interval between probes, as net.TCPConn does.
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	return c.locked("set", func(now time.Time) { c.e.c.setKeepAlivePeriod(now, d) })
}

// SetLinger sets the behaviour of Close with unsent data. sec < 0 (the
// default) sends the queued data and a FIN in the background; sec == 0
// discards it and resets the connection (RST), as SO_LINGER 0 does.
// Positive values behave like the default (Close never blocks).
func (c *Conn) SetLinger(sec int) error {
	return c.locked("set", func(time.Time) { c.e.lingerZero = sec == 0 })
}

// SetReadBuffer sets the receive buffer, and so the largest window, to
// bytes, and turns auto-tuning off for the connection (as SO_RCVBUF
// does). The window offered to the peer never shrinks: the buffer keeps
// at least what is buffered and advertised.
func (c *Conn) SetReadBuffer(bytes int) error {
	if bytes <= 0 {
		return c.opErr("set", stack.ErrInvalid)
	}
	return c.locked("set", func(time.Time) {
		k := &c.e.c
		k.busyOn()
		k.rcvLocked = true
		k.rcv.max = max(bytes, k.rcv.n+int(k.rcvNxt.Size(k.lastAdvRight)))
	})
}

// SetWriteBuffer sets the send buffer size and turns auto-tuning off for
// the connection (as SO_SNDBUF does); it never drops queued data.
func (c *Conn) SetWriteBuffer(bytes int) error {
	if bytes <= 0 {
		return c.opErr("set", stack.ErrInvalid)
	}
	return c.locked("set", func(time.Time) {
		k := &c.e.c
		k.busyOn()
		k.sndLocked = true
		k.snd.max = max(bytes, k.snd.n)
	})
}

// SetCongestionControl switches the connection's congestion control
// algorithm ("cubic", "reno" or a registered one, see
// RegisterCongestionControl), like TCP_CONGESTION; the window is kept.
func (c *Conn) SetCongestionControl(name string) error {
	var ok bool
	err := c.locked("set", func(time.Time) { ok = c.e.c.setCongestionControl(name) })
	if err == nil && !ok {
		err = c.opErr("set", stack.ErrInvalid)
	}
	return err
}

// CongestionControl returns the name of the connection's congestion
// control algorithm.
func (c *Conn) CongestionControl() string {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	return c.e.c.ca.name()
}

// CloseRead shuts down the receiving direction: Read returns io.EOF from
// now on; data that arrives later is acknowledged and discarded.
func (c *Conn) CloseRead() error {
	return c.locked("close", func(time.Time) { c.e.c.shutdownRead() })
}

// Info is a snapshot of a connection's TCP state, like Linux's TCP_INFO.
type Info struct {
	State State
	// MSS is the payload size of a full segment we send.
	MSS int
	// SRTT and RTO are the smoothed round-trip time and the current
	// retransmission timeout.
	SRTT, RTO time.Duration
	// CongestionWindow and SlowStartThreshold are in bytes.
	CongestionWindow, SlowStartThreshold int
	// CongestionControl is the algorithm's name.
	CongestionControl string
	// Timestamps, SACK and WindowScale report what the handshake
	// negotiated; SendWindowShift and ReceiveWindowShift are the scales.
	Timestamps, SACK, WindowScale       bool
	SendWindowShift, ReceiveWindowShift uint8
	// ReceiveBuffer is the current receive buffer limit (it grows with
	// auto-tuning).
	ReceiveBuffer int
	// SendBuffer is the current send buffer limit (it grows with the
	// congestion window, see Options.MaxSendBuffer).
	SendBuffer int
	// BytesInFlight is the data sent and not yet acknowledged, in
	// sequence space.
	BytesInFlight int
	// ECN reports whether the handshake negotiated ECN (RFC 3168).
	ECN bool
}

// Info returns a snapshot of the connection's TCP state.
func (c *Conn) Info() Info {
	e := c.e
	e.mu.Lock()
	defer e.mu.Unlock()
	k := &e.c
	return Info{
		State: k.state, MSS: k.mss, SRTT: k.rtt.srtt, RTO: k.rtt.rto,
		CongestionWindow: k.cwnd, SlowStartThreshold: k.ssthresh, CongestionControl: k.ca.name(),
		Timestamps: k.tsOn, SACK: k.sackOn, WindowScale: k.sendWS,
		SendWindowShift: k.sndShift, ReceiveWindowShift: k.rcvShift, ReceiveBuffer: k.rcv.max,
		SendBuffer: k.snd.max, BytesInFlight: int(k.sndUna.Size(k.sndMax)),
		ECN: k.ecnOn,
	}
}

var _ io.Reader = (*Conn)(nil)
