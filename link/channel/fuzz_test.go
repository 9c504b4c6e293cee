package channel_test

import (
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link/channel"
)

// FuzzWrite writes arbitrary packets through a channel into a whole host
// (IPv4, TCP, UDP, with a TCP listener and a UDP socket): nothing may
// panic, and every packet is either taken or counted.
func FuzzWrite(f *testing.F) {
	// An IPv4 TCP SYN to 10.9.0.2:80, a UDP datagram to port 53, an
	// IPv6 header, and junk.
	f.Add([]byte("\x45\x00\x00\x28\x00\x01\x00\x00\x40\x06\x00\x00\x0a\x09\x00\x01\x0a\x09\x00\x02" +
		"\x30\x39\x00\x50\x00\x00\x00\x01\x00\x00\x00\x00\x50\x02\xff\xff\x00\x00\x00\x00"))
	f.Add([]byte("\x45\x00\x00\x1d\x00\x02\x00\x00\x40\x11\x00\x00\x0a\x09\x00\x01\x0a\x09\x00\x02" +
		"\x30\x39\x00\x35\x00\x09\x00\x00x"))
	f.Add([]byte("\x60\x00\x00\x00\x00\x00\x3a\x40" + string(make([]byte, 32))))
	f.Add([]byte{0x4f})
	f.Add([]byte{})
	ch, _ := channel.New(channel.Config{MTU: 1500, QueueLen: 16})
	h, err := host.New(host.Config{Interfaces: []host.Interface{{Endpoint: ch, Addr: netip.MustParsePrefix("10.9.0.2/24")}}})
	if err != nil {
		f.Fatal(err)
	}
	defer h.Close()
	l, _ := h.Listen("tcp", ":80")
	defer l.Close()
	pc, _ := h.ListenPacket("udp", ":53")
	defer pc.Close()
	bufs, sizes := [][]byte{make([]byte, 1500)}, make([]int, 1)
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, err := ch.Write([][]byte{b}, 0); n != 1 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		for ch.Queued() > 0 { // drain answers (RST, ICMP errors)
			ch.Read(bufs, sizes, 0)
		}
	})
}
