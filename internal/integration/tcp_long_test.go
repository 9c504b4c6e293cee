package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// TestTCP1GiBEachWay moves 1 GiB from a Linux socket to the stack and 1 GiB
// back at the same time, checking both with SHA-256 (issue 4 acceptance
// 3). It is long, so it runs only with TAPSTACK_LONG=1.
func TestTCP1GiBEachWay(t *testing.T) {
	if os.Getenv("TAPSTACK_LONG") == "" {
		t.Skip("set TAPSTACK_LONG=1 to move 1 GiB each way")
	}
	needTools(t, "ip")
	ns := bridgeNS(t)
	h := startHost(t, ns)
	const n = 1 << 30
	l, err := h.Listen("tcp", ":5002")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type result struct {
		sum []byte
		n   int64
		err error
	}
	stackGot := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			stackGot <- result{err: err}
			return
		}
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			io.Copy(c, newPatternReader(n, 21))
			c.(interface{ CloseWrite() error }).CloseWrite()
		}()
		h := sha256.New()
		m, err := io.Copy(h, c)
		<-wrote
		c.Close()
		stackGot <- result{h.Sum(nil), m, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := linuxDial(ctx, ns, "tcp4", hostAddr+":5002")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	start := time.Now()
	go func() {
		io.Copy(c, newPatternReader(n, 22))
		c.(*net.TCPConn).CloseWrite()
	}()
	got := sha256.New()
	m, err := io.Copy(got, c)
	if err != nil || m != n {
		t.Fatalf("linux received %d of %d bytes: %v", m, n, err)
	}
	r := <-stackGot
	elapsed := time.Since(start)
	if r.err != nil || r.n != n {
		t.Fatalf("stack received %d of %d bytes: %v", r.n, n, r.err)
	}
	want := func(seed uint64) []byte {
		h := sha256.New()
		io.Copy(h, newPatternReader(n, seed))
		return h.Sum(nil)
	}
	if !bytes.Equal(got.Sum(nil), want(21)) {
		t.Error("stack to linux: SHA-256 differs")
	}
	if !bytes.Equal(r.sum, want(22)) {
		t.Error("linux to stack: SHA-256 differs")
	}
	t.Logf("1 GiB each way in %v (%.0f Mbit/s per direction)", elapsed.Round(time.Millisecond), float64(n*8)/elapsed.Seconds()/1e6)
}
