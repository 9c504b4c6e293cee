package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/host/web"
)

// BytesPattern returns byte i of the /bytes stream: 'a' + i%26.
func bytesPattern(i int64) byte { return byte('a' + i%26) }

// patternChunk is a whole number of pattern periods, so consecutive writes of
// it continue the pattern.
var patternChunk = func() []byte {
	b := make([]byte, 26*1260) // 32760 bytes
	for i := range b {
		b[i] = bytesPattern(int64(i))
	}
	return b
}()

// maxBytes bounds /bytes?n=.
const maxBytes = 1 << 40

// httpHandler serves the status page at / (as mode says; a browser gets
// the web page of host/web) and the byte stream at /bytes.
func httpHandler(h *host.Host, mode statusMode) http.Handler {
	mux := http.NewServeMux()
	var ws *web.Server
	if mode != statusOff {
		ws = web.New(h, web.Options{Public: mode != statusFull})
		mux.Handle("GET /status.json", ws)
		mux.Handle("GET /static/", ws)
	}
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case mode == statusOff:
			http.Error(w, "no status page here (tapstack up --status off): run tapstack status on the host", http.StatusNotFound)
			return
		case web.WantsHTML(r):
			ws.ServeHTTP(w, r)
		case mode == statusFull:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			h.WriteStatus(w, r.URL.Query().Has("all"))
			writeBondStatus(w)
		default:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			h.WritePublicStatus(w)
		}
	})
	mux.HandleFunc("GET /metrics", publicMetrics(h, mode))
	mux.HandleFunc("/bytes", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		if err != nil || n < 0 || n > maxBytes {
			http.Error(w, fmt.Sprintf("want /bytes?n=N with 0 <= N <= %d", int64(maxBytes)), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		if r.Method == http.MethodHead {
			return
		}
		writePattern(w, n)
	})
	return mux
}

// writePattern writes n bytes of the /bytes pattern to w.
func writePattern(w io.Writer, n int64) error {
	for n > 0 {
		c := patternChunk
		if int64(len(c)) > n {
			c = c[:n]
		}
		if _, err := w.Write(c); err != nil {
			return err
		}
		n -= int64(len(c))
	}
	return nil
}

// serveEcho sends back whatever it receives (RFC 862). Behind a
// limitListener, a peer that neither sends nor reads for the idle timeout
// is closed.
func serveEcho(c net.Conn) { pump(c, func(b []byte) error { _, err := c.Write(b); return err }) }

// serveDiscard reads and drops (RFC 863).
func serveDiscard(c net.Conn) { pump(c, func([]byte) error { return nil }) }

// serveChargen sends rotating 72-character lines of the 95 printable ASCII
// characters, each followed by CR LF, until the peer goes away (RFC 864).
// Every connection writes from one shared buffer of whole periods, so a
// peer that never reads pins no buffer of its own; behind a limitListener
// it is closed when it takes no byte for the idle timeout.
func serveChargen(c net.Conn) {
	done := make(chan struct{})
	go func() { // the RFC says to ignore input; reading it keeps the window open
		defer close(done)
		buf := make([]byte, 256)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	for {
		if _, err := c.Write(chargenBlock); err != nil {
			break
		}
	}
	c.Close()
	<-done
}

// chargenBlock is three periods of the chargen stream (95 lines of 74
// bytes each, 21,090 bytes: over tcp's 16 KiB, so each write is a bulk
// one), shared by every connection.
var chargenBlock = func() []byte {
	b := make([]byte, 0, 3*95*74)
	for range 3 {
		for i := range 95 {
			b = append(b, chargenLine(i)...)
		}
	}
	return b
}()

// chargenRing is the 95 printable characters twice, so every line is a slice.
var chargenRing = func() []byte {
	b := make([]byte, 0, 190)
	for r := 0; r < 2; r++ {
		for ch := byte(' '); ch <= '~'; ch++ {
			b = append(b, ch)
		}
	}
	return b
}()

var chargenLines = func() [95][]byte {
	var ls [95][]byte
	for i := range ls {
		ls[i] = append(append([]byte(nil), chargenRing[i:i+72]...), '\r', '\n')
	}
	return ls
}()

// chargenLine returns line i (0..94): 72 characters starting at the i-th
// printable character, then CR LF.
func chargenLine(i int) []byte { return chargenLines[i] }

// server runs one accept loop with a handler per connection and tracks its
// connections so Stop can end them.
type server struct {
	l     net.Listener
	serve func(net.Conn)

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startServer(l net.Listener, serve func(net.Conn)) *server {
	s := &server{l: l, serve: serve, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go s.loop()
	return s
}

func (s *server) loop() {
	defer s.wg.Done()
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.conns == nil { // stopping
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
			c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// stop closes the listener and every connection and waits for the handlers.
func (s *server) stop() {
	s.l.Close()
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for c := range conns {
		c.Close()
	}
	s.wg.Wait()
}
