package gateway

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"

	"github.com/tapstack/tapstack/tcp"
	"golang.org/x/sys/unix"
)

// socketPair returns two connected kernel stream sockets (a Unix pair:
// what the raw I/O does is the same as on the relay's TCP sockets).
func socketPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(fd int) net.Conn {
		f := os.NewFile(uintptr(fd), "pair")
		c, err := net.FileConn(f) // dups fd, non-blocking, in the poller
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	return mk(fds[0]), mk(fds[1])
}

// TestRawSocketIO: the relay's raw reads and writes of kernel sockets
// move data byte-exact in both directions, park when the socket buffer is
// full (a write far larger than it completes only as the other side
// reads) or empty, report EOF after the peer's half-close and fail after
// a reset; a tapstack connection is left to its own Read and Write.
func TestRawSocketIO(t *testing.T) {
	a, b := socketPair(t)
	w, ok := writerTo(a).(*rawWriter)
	if !ok {
		t.Fatalf("writerTo(%T) is not raw", a)
	}
	r, ok := readerFrom(b).(*rawReader)
	if !ok {
		t.Fatalf("readerFrom(%T) is not raw", b)
	}
	data := make([]byte, 8<<20) // far beyond the socket buffer
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	errc := make(chan error, 1)
	go func() {
		n, err := w.Write(data)
		if err == nil && n != len(data) {
			err = errors.New("short write")
		}
		if err == nil {
			err = closeWriteErr(a)
		}
		errc <- err
	}()
	var got bytes.Buffer
	buf := make([]byte, 100_000)
	for {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatal("Read returned 0 bytes and no error")
		}
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the write did not complete")
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("received %d bytes, not the %d written", got.Len(), len(data))
	}
	// After the peer is gone a write fails (EPIPE or ECONNRESET).
	b.Close()
	var err error
	for range 100 { // the first writes may still be buffered
		if _, err = w.Write(buf); err != nil {
			break
		}
	}
	if err == nil {
		t.Error("writes to a closed peer kept succeeding")
	}
	// A closed socket makes the parked read return.
	c, _ := socketPair(t)
	rd := readerFrom(c)
	done := make(chan error, 1)
	go func() { _, err := rd.Read(buf); done <- err }()
	c.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("read of a closed socket succeeded")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not wake the parked read")
	}
	// Anything but a kernel socket is used as it is.
	p, q := net.Pipe()
	defer p.Close()
	defer q.Close()
	if writerTo(p) != io.Writer(p) || readerFrom(q) != io.Reader(q) {
		t.Error("a net.Pipe end was wrapped")
	}
}

func closeWriteErr(c net.Conn) error {
	return c.(interface{ CloseWrite() error }).CloseWrite()
}

// TestRawTryWrite: rawWriter's TryWrite (tcp.TryWriter) writes what the
// socket takes and returns at once when it takes nothing more, with 0 and
// no error (it never parks); what it wrote arrives byte-exact; after the
// peer is gone it fails, and on a closed socket at once.
func TestRawTryWrite(t *testing.T) {
	for _, tt := range []struct {
		name  string
		chunk int
	}{
		{"small writes", 1000},
		{"writes larger than the socket buffer", 4 << 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, b := socketPair(t)
			w, ok := writerTo(a).(*rawWriter)
			if !ok {
				t.Fatalf("writerTo(%T) is not raw", a)
			}
			var tw tcp.TryWriter = w
			rng := rand.New(rand.NewPCG(3, 4))
			chunk := make([]byte, tt.chunk)
			var sent bytes.Buffer
			// Fill the socket: TryWrite must come back with 0, nil
			// (on a blocking write this would hang).
			for full := false; !full; {
				for i := range chunk {
					chunk[i] = byte(rng.Uint32())
				}
				n, err := tw.TryWrite(chunk)
				if err != nil {
					t.Fatal(err)
				}
				sent.Write(chunk[:n])
				full = n < len(chunk)
			}
			if n, err := tw.TryWrite(chunk[:1]); n != 0 || err != nil {
				t.Fatalf("TryWrite to a full socket: %d, %v", n, err)
			}
			if n, err := tw.TryWrite(nil); n != 0 || err != nil {
				t.Fatalf("TryWrite(nil): %d, %v", n, err)
			}
			a.(interface{ CloseWrite() error }).CloseWrite()
			got, err := io.ReadAll(readerFrom(b))
			if err != nil || !bytes.Equal(got, sent.Bytes()) {
				t.Fatalf("read %d bytes (%v), TryWrite wrote %d, equal %v", len(got), err, sent.Len(), bytes.Equal(got, sent.Bytes()))
			}
		})
	}
	// A gone peer: TryWrite fails (EPIPE or ECONNRESET), soon.
	a, b := socketPair(t)
	w := writerTo(a).(*rawWriter)
	b.Close()
	var err error
	for range 100 {
		if _, err = w.TryWrite(make([]byte, 1000)); err != nil {
			break
		}
	}
	if err == nil {
		t.Error("TryWrite to a closed peer kept succeeding")
	}
	a.Close()
	if _, err := w.TryWrite([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("TryWrite on a closed socket: %v, want net.ErrClosed", err)
	}
}

// TestRawTryWriteBuffers: rawWriter's TryWriteBuffers (tcp.TryBuffersWriter)
// writes several buffers in order in one call, skipping empty ones, takes
// what the socket takes and returns 0 and no error when it takes nothing
// (never parks); what it wrote arrives byte-exact; on a closed socket it
// fails.
func TestRawTryWriteBuffers(t *testing.T) {
	a, b := socketPair(t)
	var bw tcp.TryBuffersWriter = writerTo(a).(*rawWriter)
	rng := rand.New(rand.NewPCG(5, 6))
	bufs := make([][]byte, 5)
	var sent bytes.Buffer
	calls := 0
	for full := false; !full; calls++ {
		total := 0
		for i := range bufs {
			bufs[i] = make([]byte, []int{1000, 0, 8 << 10, 7, 3000}[i])
			for j := range bufs[i] {
				bufs[i][j] = byte(rng.Uint32())
			}
			total += len(bufs[i])
		}
		n, err := bw.TryWriteBuffers(bufs)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range bufs { // the first n bytes of the buffers, in order
			k := min(n, len(p))
			sent.Write(p[:k])
			n -= k
		}
		full = sent.Len() < (calls+1)*total
	}
	if calls < 2 {
		t.Fatalf("the socket was full after %d calls; the test wants the first one whole", calls)
	}
	if n, err := bw.TryWriteBuffers([][]byte{{1}}); n != 0 || err != nil {
		t.Fatalf("TryWriteBuffers to a full socket: %d, %v", n, err)
	}
	if n, err := bw.TryWriteBuffers([][]byte{nil, {}}); n != 0 || err != nil {
		t.Fatalf("TryWriteBuffers of empty buffers: %d, %v", n, err)
	}
	a.(interface{ CloseWrite() error }).CloseWrite()
	got, err := io.ReadAll(readerFrom(b))
	if err != nil || !bytes.Equal(got, sent.Bytes()) {
		t.Fatalf("read %d bytes (%v), TryWriteBuffers wrote %d, equal %v", len(got), err, sent.Len(), bytes.Equal(got, sent.Bytes()))
	}
	a.Close()
	if _, err := bw.TryWriteBuffers([][]byte{[]byte("x")}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("TryWriteBuffers on a closed socket: %v, want net.ErrClosed", err)
	}
}
