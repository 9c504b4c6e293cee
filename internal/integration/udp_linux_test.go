package integration

import (
	"bytes"
	be "encoding/binary"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// linuxUDP opens a kernel UDP socket inside ns, bound to laddr (":0" for
// an ephemeral port), or connected to raddr when it is not empty.
func linuxUDP(t *testing.T, ns interface{ Run(func() error) error }, raddr string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := ns.Run(func() (err error) {
		if raddr != "" {
			var ra *net.UDPAddr
			if ra, err = net.ResolveUDPAddr("udp4", raddr); err == nil {
				c, err = net.DialUDP("udp4", nil, ra)
			}
			return err
		}
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(bridgeAddr)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestUDPEchoCommand: the command's UDP echo on :7 returns every payload
// exactly, up to 8,000-byte datagrams (fragmented both ways), and a
// datagram to a closed port gets ICMP port unreachable, which the Linux
// socket reports as ECONNREFUSED.
func TestUDPEchoCommand(t *testing.T) {
	needTools(t, "ip")
	ns := bridgeNS(t)
	startCommand(t, ns)

	c := linuxUDP(t, ns, hostAddr+":7")
	buf := make([]byte, 65536)
	for i, size := range []int{0, 1, 512, 1472, 1473, 3000, 8000} {
		payload := bytes.Repeat([]byte{byte('a' + i)}, size)
		for j := range payload {
			payload[j] ^= byte(j)
		}
		if _, err := c.Write(payload); err != nil {
			t.Fatalf("send %d bytes: %v", size, err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second)) // failure guard only
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("echo of %d bytes: %v", size, err)
		}
		if !bytes.Equal(buf[:n], payload) {
			t.Fatalf("echo of %d bytes came back as %d different bytes", size, n)
		}
	}

	closed := linuxUDP(t, ns, hostAddr+":9999")
	if _, err := closed.Write([]byte("anyone?")); err != nil {
		t.Fatal(err)
	}
	closed.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := closed.Read(buf); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("datagram to a closed port: read returned %v, want ECONNREFUSED (ICMP port unreachable)", err)
	}
}

// TestUDPPacketConn10000: a net.PacketConn on the stack echoes 10,000
// numbered datagrams from a Linux socket; on a clean link every one of
// them comes back, in full.
func TestUDPPacketConn10000(t *testing.T) {
	needTools(t, "ip")
	ns := bridgeNS(t)
	h := startHost(t, ns)
	pc, err := h.ListenPacket("udp", ":5000")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		b := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(b)
			if err != nil {
				return
			}
			if _, err := pc.WriteTo(b[:n], from); err != nil {
				return
			}
		}
	}()

	const total, window, size = 10000, 32, 200
	c := linuxUDP(t, ns, "")
	to := &net.UDPAddr{IP: net.ParseIP(hostAddr), Port: 5000}
	send := func(seq int) {
		b := make([]byte, size)
		be.BigEndian.PutUint32(b, uint32(seq))
		for i := 4; i < size; i++ {
			b[i] = byte(seq + i)
		}
		if _, err := c.WriteTo(b, to); err != nil {
			t.Fatalf("send %d: %v", seq, err)
		}
	}
	seen := make([]bool, total)
	next, got := 0, 0
	for ; next < window; next++ {
		send(next)
	}
	buf := make([]byte, 2048)
	for got < total {
		// A lost datagram leaves the window stuck: the deadline turns
		// that into a failure that says how many came back.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d of %d datagrams: %v", got, total, err)
		}
		seq := int(be.BigEndian.Uint32(buf))
		if n != size || seq >= total || seen[seq] {
			t.Fatalf("datagram %d: %d bytes, duplicate=%v", seq, n, seq < total && seen[seq])
		}
		for i := 4; i < size; i++ {
			if buf[i] != byte(seq+i) {
				t.Fatalf("datagram %d: byte %d differs", seq, i)
			}
		}
		seen[seq] = true
		got++
		if next < total {
			send(next)
			next++
		}
	}
	t.Logf("%d datagrams of %d bytes echoed, none lost; udp.rx.queue_full=%d", total, size,
		h.Stack().Counters().Value("udp.rx.queue_full"))
}
