package gateway

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/tapstack/tapstack/tcp"
)

// Copy buffers: a relay direction reads into a small buffer and moves to
// a large one only while reads fill it (bulk data), and back when a read
// is short again, so an idle relay holds smallBuf bytes per direction,
// not largeBuf. Both come from pools: the copy loop allocates nothing in
// steady state. largeBuf is 256 KiB: a bulk relay then takes four times
// fewer read syscalls and Conn.Write/flush rounds per byte than with
// 64 KiB, which cut the gateway's CPU per GiB by about a fifth both ways
// (scripts/bench_gateway.sh); the cost is 256 KiB per busy direction.
// A direction that keeps filling largeBuf moves on to hugeBuf (1 MiB:
// download CPU per GiB down by another sixth) while fewer than maxHuge
// directions hold one, so those cost at most maxHuge MiB in all.
const (
	smallBuf = 2 << 10
	largeBuf = 256 << 10
	hugeBuf  = 1 << 20
	maxHuge  = 32
)

var (
	smallPool = sync.Pool{New: func() any { b := make([]byte, smallBuf); return &b }}
	largePool = sync.Pool{New: func() any { b := make([]byte, largeBuf); return &b }}
	hugePool  = sync.Pool{New: func() any { b := make([]byte, hugeBuf); return &b }}
	hugeInUse atomic.Int32 // directions holding a hugeBuf
)

// putBuf returns bp, of the given size tier (0 small, 1 large, 2 huge),
// to its pool.
func putBuf(bp *[]byte, tier int) {
	switch tier {
	case 0:
		smallPool.Put(bp)
	case 1:
		largePool.Put(bp)
	default:
		hugePool.Put(bp)
		hugeInUse.Add(-1)
	}
}

// streamConn is what a relay needs of each side: *tcp.Conn and
// *net.TCPConn both are.
type streamConn interface {
	net.Conn
	CloseWrite() error
	SetLinger(sec int) error
}

// reset closes c with a RST (SetLinger(0) then Close), or just closes it.
func reset(c net.Conn) {
	if s, ok := c.(interface{ SetLinger(int) error }); ok {
		s.SetLinger(0)
	}
	c.Close()
}

// closeWrite half-closes c (FIN), or closes it when it cannot.
func closeWrite(c net.Conn) {
	if s, ok := c.(interface{ CloseWrite() error }); ok {
		if s.CloseWrite() == nil {
			return
		}
	}
	c.Close()
}

// pipe copies src to dst until src ends. Back-pressure: it reads again
// only after dst took the whole previous read, so a dst that does not
// drain stops the reads from src. At src's EOF it half-closes dst (FIN
// carried through); when src fails (a reset) it resets dst, and when dst
// fails it resets src; either way it reports whether the direction ended
// in a reset.
func pipe(dst, src net.Conn) (wasReset bool) {
	if tc, ok := src.(*tcp.Conn); ok {
		return pipeFrom(dst, tc)
	}
	bp, tier := smallPool.Get().(*[]byte), 0
	defer func() { putBuf(bp, tier) }()
	w, r := writerTo(dst), readerFrom(src)
	for {
		buf := *bp
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				reset(src)
				dst.Close()
				return true
			}
		}
		switch {
		case tier == 0 && n == len(buf):
			putBuf(bp, tier)
			bp, tier = largePool.Get().(*[]byte), 1
		case tier == 1 && n == len(buf):
			if hugeInUse.Add(1) <= maxHuge {
				putBuf(bp, tier)
				bp, tier = hugePool.Get().(*[]byte), 2
			} else {
				hugeInUse.Add(-1)
			}
		case tier > 0 && n <= smallBuf:
			putBuf(bp, tier)
			bp, tier = smallPool.Get().(*[]byte), 0
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				closeWrite(dst)
				return false
			}
			reset(dst)
			src.Close()
			return true
		}
	}
}

// pipeFrom is pipe from a tapstack connection: it writes to dst straight
// from the connection's receive buffer (tcp.Conn.WriteTo), with no buffer
// of its own and one copy of each byte less. The back-pressure is the
// same: data leaves src's buffer, opening its window, only as dst takes it.
func pipeFrom(dst net.Conn, src *tcp.Conn) (wasReset bool) {
	w := &errWriter{w: writerTo(dst)}
	var to io.Writer = w
	if tw, ok := w.w.(tcp.TryBuffersWriter); ok {
		to = errTryWriter{w, tw} // written inline at the ends of batches
	}
	_, err := src.WriteTo(to)
	switch {
	case w.err != nil:
		reset(src)
		dst.Close()
		return true
	case err == nil: // src's FIN
		closeWrite(dst)
		return false
	}
	reset(dst)
	src.Close()
	return true
}

// errWriter remembers the error of w, so that pipeFrom tells a failed
// write from a failed read.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	n, err := e.w.Write(b)
	if err != nil {
		e.err = err
	}
	return n, err
}

// errTryWriter is errWriter for a tcp.TryBuffersWriter (rawWriter),
// which it stays, its TryWrite's and TryWriteBuffers' errors remembered
// too.
type errTryWriter struct {
	*errWriter
	tw tcp.TryBuffersWriter
}

func (e errTryWriter) TryWriteBuffers(b [][]byte) (int, error) {
	n, err := e.tw.TryWriteBuffers(b)
	if err != nil {
		e.err = err
	}
	return n, err
}

func (e errTryWriter) TryWrite(b []byte) (int, error) {
	n, err := e.tw.TryWrite(b)
	if err != nil {
		e.err = err
	}
	return n, err
}

// relay copies a and b both ways until both directions ended, then
// closes both; it reports whether either direction ended in a reset.
func relay(a, b net.Conn) (wasReset bool) {
	done := make(chan bool, 1)
	go func() { done <- pipe(b, a) }()
	r1 := pipe(a, b)
	r2 := <-done
	a.Close()
	b.Close()
	return r1 || r2
}
