package tap

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"

	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/stack"
)

// tcpFrame builds an Ethernet/IPv4/TCP frame with valid checksums.
func tcpFrame(t testing.TB, src, dst net.HardwareAddr, sip, dip string, sport, dport uint16, syn bool) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(sip).To4(), DstIP: net.ParseIP(dip).To4()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1000, SYN: syn, ACK: !syn, Window: 65535}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestFlowHash(t *testing.T) {
	a, b := net.HardwareAddr(ourMAC[:]), net.HardwareAddr{2, 0, 0, 0, 0, 1}
	base := tcpFrame(t, a, b, "10.0.0.2", "10.0.0.1", 40000, 80, true)
	other := tcpFrame(t, a, b, "10.0.0.2", "10.0.0.1", 40000, 80, false) // same flow, other flags
	port := tcpFrame(t, a, b, "10.0.0.2", "10.0.0.1", 40001, 80, true)
	frag := append([]byte(nil), base...)
	frag[14+6] = 0x20 // MF: the ports are not looked at
	fragOther := append([]byte(nil), port...)
	fragOther[14+6] = 0x20
	tagged := append(append(append([]byte(nil), base[:12]...), 0x81, 0x00, 0x00, 10), base[12:]...) // VLAN 10
	arp := make([]byte, 42)
	arp[12], arp[13] = 0x08, 0x06

	if flowHash(base) != flowHash(other) {
		t.Error("two segments of one flow hash differently")
	}
	if flowHash(base) == flowHash(port) {
		t.Error("flows differing in a port hash the same (possible, but not for these)")
	}
	if flowHash(tagged) != flowHash(base) {
		t.Error("a VLAN-tagged frame hashes unlike its flow untagged")
	}
	if flowHash(frag) != flowHash(fragOther) {
		t.Error("fragments hash by their ports")
	}
	if flowHash(arp) != 0 || flowHash(base[:20]) != 0 {
		t.Error("non-IPv4 or short frames do not hash to 0")
	}
	// Ports spread over two queues.
	var per [2]int
	for p := range uint16(64) {
		per[flowHash(tcpFrame(t, a, b, "10.0.0.2", "10.0.0.1", 40000+p, 80, true))%2]++
	}
	if per[0] == 0 || per[1] == 0 {
		t.Errorf("64 flows over two queues: %v", per)
	}
}

// udpOrder records, per UDP source port, the sequence numbers (first
// payload byte) of the datagrams received, from any number of readers.
type udpOrder struct {
	mu   sync.Mutex
	seqs map[uint16][]byte
}

func (u *udpOrder) DeliverFrame(p *stack.Packet) {
	defer p.Release()
	b := p.Bytes()
	if len(b) < 14+20+8+1 || b[12] != 0x08 || b[13] != 0x00 || b[14+9] != 17 {
		return
	}
	ihl := int(b[14]&0x0f) * 4
	if len(b) < 14+ihl+8+1 {
		return
	}
	u.mu.Lock()
	sport := binary.BigEndian.Uint16(b[14+ihl:])
	u.seqs[sport] = append(u.seqs[sport], b[14+ihl+8])
	u.mu.Unlock()
}

func (u *udpOrder) total() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, s := range u.seqs {
		n += len(s)
	}
	return n
}

// TestMultiqueue: a two-queue TAP (the kernel says so) is busy for a
// second Open; the kernel spreads flows over both queues, and each flow's
// frames arrive in order although two readers deliver at once.
func TestMultiqueue(t *testing.T) {
	ns := netnstest.New(t)
	// No IPv6 chatter from the bridge: the kernel sends the TAP only what
	// the test asks for.
	for _, k := range []string{"all", "default"} {
		if _, err := ns.Output("sysctl", "-qw", "net.ipv6.conf."+k+".disable_ipv6=1"); err != nil {
			t.Fatal(err)
		}
	}
	ns.AddBridge("br0", "10.0.0.1/24")
	d := openIn(t, ns, Config{Name: "tap0", Bridge: "br0", Queues: 2, NoOffload: true})
	if d.Queues() != 2 {
		t.Fatalf("Queues() = %d, want 2", d.Queues())
	}
	l, err := ns.Netlink().LinkByName("tap0")
	if err != nil {
		t.Fatal(err)
	}
	if tt, ok := l.(*netlink.Tuntap); !ok || tt.Flags&netlink.TUNTAP_MULTI_QUEUE == 0 || tt.Queues != 2 {
		t.Fatalf("kernel's view of tap0: %#v", l)
	}
	if err := openErr(ns, Config{Name: "tap0", Queues: 2, NoOffload: true}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Open of a multiqueue TAP in use: %v, want ErrBusy", err)
	}
	if err := openErr(ns, Config{Name: "tap1", Queues: MaxQueues + 1, NoOffload: true}); !errors.Is(err, ErrBadQueues) {
		t.Fatalf("Open with %d queues: %v, want ErrBadQueues", MaxQueues+1, err)
	}
	if _, err := ns.Output("ip", "neigh", "replace", "10.0.0.2", "lladdr", net.HardwareAddr(ourMAC[:]).String(), "dev", "br0", "nud", "permanent"); err != nil {
		t.Fatal(err)
	}
	rec := &udpOrder{seqs: map[uint16][]byte{}}
	d.Attach(rec)

	// 64 flows from the kernel, 20 numbered datagrams each, sent flow
	// after flow and round after round.
	const flows, rounds = 64, 20
	err = ns.Run(func() error {
		var cs []*net.UDPConn
		defer func() {
			for _, c := range cs {
				c.Close()
			}
		}()
		for i := range flows {
			c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 50000 + i}, net.UDPAddrFromAddrPort(netip.MustParseAddrPort("10.0.0.2:9")))
			if err != nil {
				return err
			}
			cs = append(cs, c)
		}
		for r := range rounds {
			for _, c := range cs {
				if _, err := c.Write([]byte{byte(r)}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for rec.total() < flows*rounds {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d datagrams arrived", rec.total(), flows*rounds)
		}
		time.Sleep(time.Millisecond) // bounded poll for the kernel's frames
	}
	q := d.Stats().RxQueueFrames
	if len(q) != 2 || q[0] == 0 || q[1] == 0 {
		t.Errorf("frames per queue %v: the kernel did not spread %d flows", q, flows)
	}
	for port, seqs := range rec.seqs {
		for i, s := range seqs {
			if int(s) != i {
				t.Fatalf("flow from port %d arrived as %v, not in order", port, seqs)
			}
		}
	}
}

// TestSingleQueueFallback: an existing single-queue TAP (made by ip
// tuntap) is opened with one queue when more are asked for, and Queues: 1
// makes a single-queue TAP.
func TestSingleQueueFallback(t *testing.T) {
	ns := netnstest.New(t)
	if _, err := ns.Output("ip", "tuntap", "add", "tapsq", "mode", "tap"); err != nil {
		t.Fatal(err)
	}
	d := openIn(t, ns, Config{Name: "tapsq", Queues: 4, NoOffload: true})
	if d.Queues() != 1 {
		t.Errorf("existing single-queue TAP opened with %d queues", d.Queues())
	}
	one := openIn(t, ns, Config{Name: "tapone", Queues: 1, NoOffload: true})
	l, err := ns.Netlink().LinkByName("tapone")
	if err != nil {
		t.Fatal(err)
	}
	if tt, ok := l.(*netlink.Tuntap); !ok || tt.Flags&netlink.TUNTAP_MULTI_QUEUE != 0 || one.Queues() != 1 {
		t.Errorf("Queues: 1 made %#v with %d queues", l, one.Queues())
	}
}
