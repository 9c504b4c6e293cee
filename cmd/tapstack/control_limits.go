package main

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// What the control server spends on its clients, and what the CLI accepts
// from a server. Only root and the host's own user get past accept, so
// these bound mistakes and stuck tools more than attacks; other users'
// connections are closed at accept and cost one accept and one write.
const (
	// controlMaxConns is how many believed clients the control server
	// serves at once; one more gets a 503 line and is closed at once.
	controlMaxConns = 32
	// controlMaxHeaderBytes caps a request's header (the server reads
	// at most this plus 4 KiB of slack; a longer header gets 431).
	controlMaxHeaderBytes = 4 << 10
	// controlMaxReply is the most the CLI reads of a reply: a status page
	// or ARP table longer than this is refused, not printed. An ARP line
	// is about 80 bytes, so this is some 200,000 entries.
	controlMaxReply = 16 << 20
	// controlMaxReplyHeader caps the header of a reply the CLI reads.
	controlMaxReplyHeader = 64 << 10
	// controlRefuseWrite bounds the write of the refusal line at accept
	// (a fresh unix socket takes it at once).
	controlRefuseWrite = 100 * time.Millisecond
)

// controlLimits are the control server's timeouts and caps.
type controlLimits struct {
	maxConns       int
	maxHeaderBytes int
	// readHeader bounds the wait for a request's header, read for its
	// whole request, write for the handler and its reply (a resolve
	// waits up to 15 s for DNS), idle for a kept-alive connection.
	readHeader, read, write, idle time.Duration
	// peerCred reads the client's credentials (SO_PEERCRED); tests
	// replace it to act as another user.
	peerCred func(net.Conn) (peer, error)
}

// defaultControlLimits are the limits of `tapstack up`.
var defaultControlLimits = controlLimits{
	maxConns:       controlMaxConns,
	maxHeaderBytes: controlMaxHeaderBytes,
	readHeader:     2 * time.Second,
	read:           5 * time.Second,
	write:          20 * time.Second,
	idle:           5 * time.Second,
	peerCred:       peerOf,
}

// guardedListener hands the HTTP server only believed clients, at most
// lim.maxConns at once; it refuses the others at accept.
type guardedListener struct {
	net.Listener
	self  uint32 // the host's effective uid
	lim   *controlLimits
	slots chan struct{}
}

func newGuardedListener(l net.Listener, self uint32, lim *controlLimits) *guardedListener {
	return &guardedListener{Listener: l, self: self, lim: lim, slots: make(chan struct{}, lim.maxConns)}
}

// Accept returns the next believed client that fits under the cap.
func (l *guardedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		p, err := l.lim.peerCred(c)
		if err != nil || !believed(p.uid, l.self) {
			refuse(c, http.StatusForbidden, fmt.Sprintf("permission denied: only root or uid %d, which runs this host, may use its control socket", l.self))
			continue
		}
		select {
		case l.slots <- struct{}{}:
			return &slotConn{Conn: c, p: p, slots: l.slots}, nil
		default:
			refuse(c, http.StatusServiceUnavailable, fmt.Sprintf("too many control connections (%d): try again", cap(l.slots)))
		}
	}
}

// refuse writes one HTTP error reply to c without reading its request,
// and closes it.
func refuse(c net.Conn, code int, msg string) {
	c.SetWriteDeadline(time.Now().Add(controlRefuseWrite))
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s\n",
		code, http.StatusText(code), len(msg)+1, msg)
	c.Close()
}

// slotConn is a believed client holding one of the listener's slots until
// it is closed.
type slotConn struct {
	net.Conn
	p     peer
	slots chan struct{}
	once  sync.Once
}

// Close closes the connection and frees its slot.
func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { <-c.slots })
	return err
}

// bodiless refuses requests with a body: no control request takes one.
func bodiless(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			w.Header().Set("Connection", "close")
			http.Error(w, "control requests take no body", http.StatusRequestEntityTooLarge)
			return
		}
		next.ServeHTTP(w, r)
	})
}
