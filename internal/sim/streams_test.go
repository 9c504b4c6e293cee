package sim

// What each simulated connection and UDP flow exchanges, and the checks of it.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/tapstack/tapstack/internal/checksum"
)

// halfCloser is the CloseWrite of *tcp.Conn (and *net.TCPConn).
type halfCloser interface{ CloseWrite() error }

// keepAliver is the keepalive setting of *tcp.Conn (and *net.TCPConn).
type keepAliver interface {
	SetKeepAlive(bool) error
	SetKeepAlivePeriod(time.Duration) error
}

// readCounter is a connection that counts the bytes read from it.
type readCounter struct {
	net.Conn
	n atomic.Int64
}

func (r *readCounter) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.n.Add(int64(n))
	return n, err
}

// CloseWrite is the connection's.
func (r *readCounter) CloseWrite() error { return r.Conn.(halfCloser).CloseWrite() }

// exchange runs one end of connection i of the plan on conn and closes it.
func exchange(conn net.Conn, seed uint64, i int, dialer bool, c *connPlan) error {
	out, in := c.up, c.down
	if !dialer {
		out, in = in, out
	}
	// Each direction has its own stream, keyed by who sends it.
	sendKey, recvKey := streamKey(seed, i, dialer), streamKey(seed, i, !dialer)
	rng := rand.New(rand.NewPCG(seed, uint64(i)<<1|b2u(dialer)))
	wsizes := rand.New(rand.NewPCG(rng.Uint64(), 1))
	rsizes := rand.New(rand.NewPCG(rng.Uint64(), 2))
	send := func(halfClose bool) error {
		if err := writeStream(conn, sendKey, out, c.wmax, wsizes); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if halfClose {
			if err := conn.(halfCloser).CloseWrite(); err != nil {
				return fmt.Errorf("CloseWrite: %w", err)
			}
		}
		return nil
	}
	recv := func(toEOF bool) error {
		if err := readStream(conn, recvKey, in, c.rmax, rsizes, toEOF); err != nil {
			return fmt.Errorf("read: %w", err)
		}
		return nil
	}
	concurrently := func(a, b func() error) error {
		ch := make(chan error, 1)
		go func() { ch <- a() }()
		errB := b()
		return errors.Join(<-ch, errB)
	}
	var err error
	switch {
	case c.mode == modeDuplex:
		err = concurrently(func() error { return send(true) }, func() error { return recv(true) })
	case c.mode == modeSimultaneous:
		err = concurrently(func() error { return send(false) }, func() error { return recv(false) })
	case c.mode == modeRequestResponse && dialer, c.mode == modeServerFirst && !dialer:
		if err = send(true); err == nil {
			err = recv(true)
		}
	default: // the answering end: read everything, then answer and close
		if err = recv(true); err == nil {
			err = send(false)
		}
	}
	if cerr := conn.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	return err
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// streamKey is the ChaCha8 key of the bytes one end of connection i sends.
func streamKey(seed uint64, i int, dialer bool) [32]byte {
	var k [32]byte
	binary.LittleEndian.PutUint64(k[0:], seed)
	binary.LittleEndian.PutUint64(k[8:], uint64(i))
	binary.LittleEndian.PutUint64(k[16:], b2u(dialer))
	copy(k[24:], "tapstack")
	return k
}

// writeStream writes n bytes of the stream key in writes of random sizes
// up to wmax.
func writeStream(conn net.Conn, key [32]byte, n, wmax int, sizes *rand.Rand) error {
	src := rand.NewChaCha8(key)
	buf := make([]byte, wmax)
	for n > 0 {
		k := min(n, 1+sizes.IntN(wmax))
		src.Read(buf[:k])
		if _, err := conn.Write(buf[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// collisions counts UDP datagrams whose corruption the checksum could not
// see (see checkDatagram).
var collisions atomic.Int64

// received counts the TCP payload bytes verified by readStream.
var received atomic.Int64

// readStream reads n bytes and checks them against the stream key; with
// toEOF it then expects EOF.
func readStream(conn net.Conn, key [32]byte, n, rmax int, sizes *rand.Rand, toEOF bool) error {
	src := rand.NewChaCha8(key)
	buf := make([]byte, rmax)
	want := make([]byte, rmax)
	got := 0
	for got < n {
		k, err := conn.Read(buf[:min(n-got, 1+sizes.IntN(rmax))])
		if k > 0 {
			src.Read(want[:k])
			if !bytes.Equal(buf[:k], want[:k]) {
				j := 0
				for buf[j] == want[j] {
					j++
				}
				return fmt.Errorf("byte %d of %d differs: got %#02x, want %#02x", got+j, n, buf[j], want[j])
			}
			got += k
			received.Add(int64(k))
		}
		if err != nil {
			return fmt.Errorf("after %d of %d bytes: %w", got, n, err)
		}
	}
	if !toEOF {
		return nil
	}
	k, err := conn.Read(buf[:1])
	switch {
	case k > 0:
		return fmt.Errorf("%d bytes beyond the %d sent", k, n)
	case err != io.EOF:
		return fmt.Errorf("after all %d bytes: want EOF, got %v", n, err)
	}
	return nil
}

// udpExchange sends the scenario's datagrams from A to an echo endpoint
// on B and checks everything that comes back (UDP may lose, so only the
// integrity of what arrives is asserted, on both ends). It returns how
// many were sent and how many distinct ones came back.
func udpExchange(w *world, sc *scenario) (sent, echoed int, err error) {
	srv, err := w.b.ListenPacket("udp", ":7")
	if err != nil {
		return 0, 0, err
	}
	srvErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				srvErr <- nil // closed
				return
			}
			if err := checkDatagram(sc, buf[:n]); err != nil {
				srvErr <- fmt.Errorf("echo server received: %w", err)
				srv.Close()
				return
			}
			srv.WriteTo(buf[:n], from)
		}
	}()
	defer func() {
		srv.Close()
		if e := <-srvErr; e != nil && err == nil {
			err = e
		}
	}()
	c, err := w.a.DialContext(context.Background(), "udp", netip.AddrPortFrom(w.bAddr, 7).String())
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	for i, size := range sc.udp {
		if _, err := c.Write(datagram(sc.seed, i, size)); err != nil {
			return sent, 0, fmt.Errorf("write datagram %d: %w", i, err)
		}
		sent++
		// A millisecond apart: ARP queues only 3 packets per unresolved
		// next hop, and resolution takes no virtual time.
		time.Sleep(time.Millisecond)
	}
	seen := make(map[uint32]bool)
	buf := make([]byte, 65536)
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return sent, len(seen), nil
			}
			return sent, len(seen), fmt.Errorf("read echo: %w", err)
		}
		if err := checkDatagram(sc, buf[:n]); err != nil {
			return sent, len(seen), fmt.Errorf("echo received: %w", err)
		}
		seen[binary.BigEndian.Uint32(buf)] = true
	}
}

// datagram is UDP datagram i of a seed: its index, then bytes of a stream
// keyed by seed and index.
func datagram(seed uint64, i, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b, uint32(i))
	var k [32]byte
	binary.LittleEndian.PutUint64(k[0:], seed)
	binary.LittleEndian.PutUint64(k[8:], uint64(i))
	copy(k[16:], "tapstack-udp")
	rand.NewChaCha8(k).Read(b[4:])
	return b
}

func checkDatagram(sc *scenario, b []byte) error {
	if len(b) < 4 {
		return fmt.Errorf("a %d-byte datagram", len(b))
	}
	i := int(binary.BigEndian.Uint32(b))
	if i >= len(sc.udp) {
		return fmt.Errorf("datagram index %d of %d", i, len(sc.udp))
	}
	if want := datagram(sc.seed, i, sc.udp[i]); !bytes.Equal(b, want) {
		if len(b) != len(want) {
			return fmt.Errorf("datagram %d: %d bytes, %d sent", i, len(b), len(want))
		}
		first, last, n := -1, 0, 0
		for j := range b {
			if b[j] != want[j] {
				if first < 0 {
					first = j
				}
				last, n = j, n+1
			}
		}
		if checksum.Sum(b, 0) == checksum.Sum(want, 0) && sc.corrupts() {
			// Several fragments of one datagram were each
			// corrupted and the flips cancel in the Internet
			// checksum (same bit mod 16, opposite directions):
			// undetectable by design, not a stack bug.
			collisions.Add(1)
			return nil
		}
		return fmt.Errorf("datagram %d (%d bytes): %d bytes differ, from payload offset %d to %d, and the payload sums differ", i, len(b), n, first, last)
	}
	return nil
}
