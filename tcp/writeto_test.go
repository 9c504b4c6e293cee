package tcp

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// gateWriter is a writer whose Write, once armed, tells the test it was
// called (entered) and then waits for release: the test acts while WriteTo
// writes without the connection's lock.
type gateWriter struct {
	buf     bytes.Buffer
	armed   bool
	entered chan struct{}
	release chan struct{}
	fail    error
}

func (g *gateWriter) Write(b []byte) (int, error) {
	if g.armed {
		g.armed = false
		g.entered <- struct{}{}
		<-g.release
	}
	if g.fail != nil {
		return 0, g.fail
	}
	return g.buf.Write(b)
}

// feed delivers n bytes of pattern data at seq (relative to the peer's
// ISS + 1 of handConn, 2) as segments of mss, from pattern offset off.
func feed(p *Protocol, nic *stack.NIC, remote, local netip.Addr, ackNo uint32, off, n, mss int, fin bool) {
	for n > 0 {
		k := min(n, mss)
		pkt := stack.NewPacket(stack.Headroom, HeaderLen+k)
		flags := uint8(FlagACK)
		if fin && k == n {
			flags |= FlagFIN
		}
		f := Fields{SrcPort: 40000, DstPort: 81, Seq: uint32(2 + off), Ack: ackNo, Flags: flags, Window: 65535}
		f.Encode(pkt.Bytes())
		for i := range k {
			pkt.Bytes()[HeaderLen+i] = pattern(off + i)
		}
		pkt.Src, pkt.Dst, pkt.NIC, pkt.ChecksumOK = remote, local, nic, true
		p.HandlePacket(pkt)
		off, n = off+k, n-k
	}
}

func pattern(i int) byte { return byte(i*7 + i>>8) }

// TestWriteToFromTheBuffer: Conn.WriteTo writes the received data from the
// receive buffer in order, also when the buffer grows (moves) while a
// write runs without the lock; a Read waits meanwhile; the FIN ends it
// with a nil error; the window opens only as the writer takes data.
func TestWriteToFromTheBuffer(t *testing.T) {
	p, c, nic, remote, local := handConn(t, &sinkIP{}, Options{})
	e := c.e
	e.mu.Lock()
	mss, ackNo := e.c.mss, uint32(e.c.sndNxt)
	e.mu.Unlock()
	feed(p, nic, remote, local, ackNo, 0, 3000, mss, false)
	g := &gateWriter{armed: true, entered: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	var n int64
	go func() {
		var err error
		n, err = c.WriteTo(g)
		done <- err
	}()
	<-g.entered // WriteTo writes the first 3000 bytes, unlocked
	e.mu.Lock()
	alloc, wnd := e.c.rcv.alloc(), e.c.rcvWnd()
	e.mu.Unlock()
	// More data makes the buffer grow past its first size while pinned.
	more := 4*alloc + 5000
	feed(p, nic, remote, local, ackNo, 3000, more, mss, true)
	e.mu.Lock()
	grown := e.c.rcv.alloc() > alloc
	shrunk := e.c.rcvWnd() < wnd
	e.mu.Unlock()
	if !grown || !shrunk {
		t.Fatalf("buffer grown %v, window shrunk %v while the writer held the data", grown, shrunk)
	}
	readDone := make(chan int, 1)
	go func() {
		k, _ := c.Read(make([]byte, 10))
		readDone <- k
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		e.mu.Lock()
		waiting := e.readers == 1 // the Read (WriteTo is writing, not waiting)
		e.mu.Unlock()
		if waiting || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond) // polling guard
	}
	select {
	case k := <-readDone:
		t.Fatalf("a Read took %d bytes while WriteTo wrote", k)
	default:
	}
	close(g.release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WriteTo did not end at the FIN")
	}
	<-readDone // EOF after WriteTo took everything
	total := 3000 + more
	if n != int64(total) || g.buf.Len() != total {
		t.Fatalf("WriteTo wrote %d (%d) bytes, want %d", n, g.buf.Len(), total)
	}
	for i, b := range g.buf.Bytes() {
		if b != pattern(i) {
			t.Fatalf("byte %d is %d, want %d", i, b, pattern(i))
		}
	}
}

// TestWriteToCloseAndWriteError: a Close while WriteTo writes empties the
// buffer and WriteTo returns net.ErrClosed without touching it again; a
// writer's error is WriteTo's, and the data it did not take stays.
func TestWriteToCloseAndWriteError(t *testing.T) {
	p, c, nic, remote, local := handConn(t, &sinkIP{}, Options{})
	e := c.e
	e.mu.Lock()
	mss, ackNo := e.c.mss, uint32(e.c.sndNxt)
	e.mu.Unlock()
	feed(p, nic, remote, local, ackNo, 0, 2000, mss, false)
	g := &gateWriter{armed: true, entered: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() { _, err := c.WriteTo(g); done <- err }()
	<-g.entered
	c.Close()
	close(g.release)
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteTo after Close: %v, want net.ErrClosed", err)
	}
	e.mu.Lock()
	n, pinned := e.c.rcv.n, e.c.rcv.pinned
	e.mu.Unlock()
	if n != 0 || pinned {
		t.Fatalf("after Close: %d bytes buffered, pinned %v", n, pinned)
	}

	p, c, nic, remote, local = handConn(t, &sinkIP{}, Options{})
	c.e.mu.Lock()
	ackNo = uint32(c.e.c.sndNxt)
	c.e.mu.Unlock()
	feed(p, nic, remote, local, ackNo, 0, 2000, mss, false)
	boom := errors.New("boom")
	if _, err := c.WriteTo(&gateWriter{fail: boom}); !errors.Is(err, boom) {
		t.Fatalf("WriteTo with a failing writer: %v", err)
	}
	got, err := io.ReadAll(io.LimitReader(c, 2000))
	if err != nil || len(got) != 2000 || got[1999] != pattern(1999) {
		t.Fatalf("after the failed write: read %d bytes, %v", len(got), err)
	}
}
