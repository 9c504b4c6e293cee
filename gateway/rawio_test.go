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
