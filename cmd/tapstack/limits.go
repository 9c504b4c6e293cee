package main

import (
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// The limits of the services `up` runs. A hostile host on the segment can
// open connections and then say nothing, send a header line that never
// ends, or never read what it asked for; each of those held memory until
// the process died (issue 13). Every built-in service therefore has:
//
//   - a cap on established connections per listener (--max-conns, default
//     defaultMaxConns): a connection over the cap is reset as soon as it is
//     accepted and counted in svc.NAME.over_limit;
//   - an idle deadline (--idle-timeout, default defaultIdle): a connection
//     that moves no byte in either direction for that long is closed and
//     counted in svc.NAME.idle_closed. It is a progress deadline, not a
//     total one: a download that keeps moving is never cut.
//
// The HTTP server also has the timeouts of package net/http (see
// newHTTPServer). Linux's inetd and xinetd have no idle timeouts for their
// built-in services; two minutes is what a person at a telnet prompt
// tolerates, and far shorter than the 2-hour keepalive a silent peer would
// otherwise need to be found dead.
const (
	defaultMaxConns = 256
	defaultIdle     = 2 * time.Minute
)

// limits configure one service's listener.
type limits struct {
	// MaxConns caps the service's established connections (> 0).
	MaxConns int
	// Idle closes a connection that moved no byte for this long (> 0).
	Idle time.Duration
	// ReadIdle applies Idle to reads too. The HTTP server times its reads
	// itself (ReadHeaderTimeout, IdleTimeout), so its connections only get
	// the write progress deadline.
	ReadIdle bool
}

// limitListener wraps a service's listener: it resets connections over
// the cap and hands out guardedConns that carry the idle deadline.
type limitListener struct {
	net.Listener
	lim        limits
	active     atomic.Int64
	overLimit  *stack.Counter
	idleClosed *stack.Counter
	// evict, when set, is asked at the cap to close an older connection
	// (see headerWaiters); when it does, the new one is taken.
	evict func() bool
}

// newLimitListener wraps l for the service called name; its counters are
// svc.NAME.over_limit and svc.NAME.idle_closed in cs.
func newLimitListener(l net.Listener, name string, lim limits, cs *stack.Counters) *limitListener {
	return &limitListener{
		Listener:   l,
		lim:        lim,
		overLimit:  cs.Get("svc." + name + ".over_limit"),
		idleClosed: cs.Get("svc." + name + ".idle_closed"),
	}
}

// Accept returns the next connection within the cap; connections over it
// are reset at once (SO_LINGER 0 where the connection has it, so their
// state is freed now instead of lingering in FIN_WAIT) and counted.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.active.Add(1) > int64(l.lim.MaxConns) && (l.evict == nil || !l.evict()) {
			l.active.Add(-1)
			l.overLimit.Inc()
			if lc, ok := c.(interface{ SetLinger(int) error }); ok {
				lc.SetLinger(0)
			}
			c.Close()
			continue
		}
		return &guardedConn{Conn: c, l: l}, nil
	}
}

// guardedConn is an accepted connection under its listener's limits. Each
// Read and Write first moves the deadline to now+Idle, so the deadline
// measures time without progress; to keep that cheap, it is moved only
// when it would move by more than Idle/16, so a silent connection is
// closed between 15/16 of Idle and Idle after its last byte.
type guardedConn struct {
	net.Conn
	l      *limitListener
	closed atomic.Bool
	// rd and wr are the deadlines last set; each is touched by one
	// goroutine at a time (reads by the reader, writes by the writer).
	rd, wr time.Time
}

// errIdle is returned when a connection made no progress for Idle.
var errIdle = errors.New("no progress within the idle timeout")

// due returns the deadline to set now, or the zero time when the one set
// (cur) is still close enough to now+Idle.
func (c *guardedConn) due(cur time.Time) time.Time {
	idle := c.l.lim.Idle
	next := time.Now().Add(idle)
	if next.Sub(cur) < idle/16 {
		return time.Time{}
	}
	return next
}

// Read reads with the idle deadline (when the service times its reads).
// A read that times out counts the connection as idle; the caller closes
// it.
func (c *guardedConn) Read(b []byte) (int, error) {
	if !c.l.lim.ReadIdle {
		return c.Conn.Read(b)
	}
	if t := c.due(c.rd); !t.IsZero() {
		if err := c.Conn.SetReadDeadline(t); err != nil {
			return 0, err
		}
		c.rd = t
	}
	n, err := c.Conn.Read(b)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.l.idleClosed.Inc()
		return n, errIdle
	}
	return n, err
}

// Write writes all of b unless the peer takes no byte for Idle: a write
// that times out after a partial write made progress, so it re-arms the
// deadline and goes on.
func (c *guardedConn) Write(b []byte) (int, error) {
	done := 0
	for {
		if t := c.due(c.wr); !t.IsZero() {
			if err := c.Conn.SetWriteDeadline(t); err != nil {
				return done, err
			}
			c.wr = t
		}
		n, err := c.Conn.Write(b[done:])
		done += n
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return done, err
		}
		if n == 0 {
			c.l.idleClosed.Inc()
			return done, errIdle
		}
		c.wr = time.Time{} // progress: re-arm from now
	}
}

// CloseWrite half-closes when the connection can (net/http uses it to
// close gracefully).
func (c *guardedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// Close closes the connection and gives its place back to the listener,
// once.
func (c *guardedConn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.active.Add(-1)
	}
	return err
}

// bufPool holds the 16 KiB buffers of bulk echo and discard: a connection
// takes one only while data flows, so idle connections pin none. 16 KiB
// is tcp's inlineIO, the smallest write tcp sends inline as a bulk call.
var bufPool = sync.Pool{New: func() any { b := make([]byte, bulkBuf); return &b }}

const (
	bulkBuf  = 16 << 10
	smallBuf = 1 << 10
)

// pump reads c until EOF or error and hands every chunk to out. It waits
// for data with a 1 KiB buffer of its own and takes a pooled 16 KiB one
// only after a read filled the small one, for as long as reads keep
// filling it: an idle or trickling connection holds 1 KiB, a bulk one
// 17 KiB.
func pump(c net.Conn, out func([]byte) error) error {
	small := make([]byte, smallBuf)
	var big *[]byte
	defer func() {
		if big != nil {
			bufPool.Put(big)
		}
	}()
	for {
		buf := small
		if big != nil {
			buf = *big
		}
		n, err := c.Read(buf)
		if n > 0 {
			if werr := out(buf[:n]); werr != nil {
				return werr
			}
		}
		if err != nil {
			return err
		}
		switch {
		case big == nil && n == len(small):
			big = bufPool.Get().(*[]byte)
		case big != nil && n < len(*big):
			bufPool.Put(big) // drained what had arrived: wait small
			big = nil
		}
	}
}

// Timeouts and limits of the HTTP server on :80 (net/http's defaults are
// none, and 1 MB of header). Requests are small GETs; the only long
// response, /bytes, is bounded by the write progress deadline of its
// guardedConn instead of a WriteTimeout, so a download that keeps moving
// is never cut.
const (
	// httpReadHeaderTimeout ends slowloris: the whole header must arrive
	// within it (nginx's client_header_timeout is 60 s, Apache's
	// RequestReadTimeout 20–40 s).
	httpReadHeaderTimeout = 10 * time.Second
	// httpReadTimeout bounds reading a whole request, body included.
	httpReadTimeout = 30 * time.Second
	// httpIdleTimeout closes a kept-alive connection between requests
	// (nginx's keepalive_timeout is 75 s).
	httpIdleTimeout = 60 * time.Second
	// httpMaxHeaderBytes bounds the request header (net/http allows 4096
	// bytes of slack over it, so about 12 KiB are read at most).
	httpMaxHeaderBytes = 8 << 10
)

// newHTTPServer returns the :80 server of handler with the limits above.
func newHTTPServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
}
