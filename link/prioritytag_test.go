package link_test

import (
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// capDev is a link.Device whose inbound frames the test delivers and whose
// outbound frames it records.
type capDev struct {
	d   link.FrameDispatcher
	mu  sync.Mutex
	out [][]byte
}

func (c *capDev) MTU() int                      { return 1500 }
func (c *capDev) Attach(d link.FrameDispatcher) { c.d = d }
func (c *capDev) Close() error                  { return nil }
func (c *capDev) WriteFrame(p *stack.Packet) error {
	c.mu.Lock()
	c.out = append(c.out, append([]byte(nil), p.Bytes()...))
	c.mu.Unlock()
	p.Release()
	return nil
}

func (c *capDev) take() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.out
	c.out = nil
	return o
}

var (
	ptOurMAC  = stack.MAC{0x02, 0, 0, 0, 0, 0x02}
	ptPeerMAC = stack.MAC{0x02, 0, 0, 0, 0, 0x01}
)

// peerResolver resolves every next hop to ptPeerMAC.
type peerResolver struct{}

func (peerResolver) WriteTo(nic *stack.NIC, _ netip.Addr, et uint16, p *stack.Packet) error {
	return nic.WriteLinkPacket(ptPeerMAC, et, p)
}

// echoFrame is an ICMP echo request from 10.0.0.1 to 10.0.0.2 in an
// Ethernet frame with the given tags (TPID, TCI) after the addresses.
func echoFrame(t *testing.T, tags [][2]uint16) []byte {
	t.Helper()
	ls := []gopacket.SerializableLayer{&layers.Ethernet{
		SrcMAC: net.HardwareAddr(ptPeerMAC[:]), DstMAC: net.HardwareAddr(ptOurMAC[:]), EthernetType: layers.EthernetTypeIPv4,
	}}
	eth := ls[0].(*layers.Ethernet)
	var last *layers.Dot1Q
	for _, tg := range tags {
		q := &layers.Dot1Q{Priority: uint8(tg[1] >> 13), VLANIdentifier: tg[1] & 0x0fff, Type: layers.EthernetTypeIPv4}
		if last == nil {
			eth.EthernetType = layers.EthernetType(tg[0])
		} else {
			last.Type = layers.EthernetType(tg[0])
		}
		last = q
		ls = append(ls, q)
	}
	ls = append(ls,
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 9, Seq: 1},
		gopacket.Payload("priority"))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestIEEE8021QPriorityTaggedFrameIsUntagged: a frame with an 802.1Q tag
// of VID 0 carries only a priority (IEEE 802.1Q); Linux receives it as
// untagged (and takes an 802.1ad tag with VID 0 the same way). An echo
// request so tagged, to a host on a plain Ethernet endpoint, is answered,
// and the reply is untagged, as Linux's is. A tag with a VLAN ID is still
// dropped there (a Trunk carries those).
func TestIEEE8021QPriorityTaggedFrameIsUntagged(t *testing.T) {
	tests := []struct {
		name    string
		tags    [][2]uint16
		replied bool
		counter string
	}{
		{"untagged", nil, true, ""},
		{"802.1Q priority tag, PCP 6", [][2]uint16{{0x8100, 6 << 13}}, true, link.CounterRxPriorityTagged},
		{"802.1Q priority tag, PCP 0", [][2]uint16{{0x8100, 0}}, true, link.CounterRxPriorityTagged},
		{"802.1ad priority tag", [][2]uint16{{0x88a8, 5 << 13}}, true, link.CounterRxPriorityTagged},
		{"VID 5", [][2]uint16{{0x8100, 5}}, false, link.CounterRxVLANDropped},
		{"priority tag before VID 5", [][2]uint16{{0x8100, 0}, {0x8100, 5}}, false, link.CounterRxVLANDropped},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			live := stack.LivePackets()
			s := stack.New(stack.Options{})
			if _, err := ipv4.Register(s, ipv4.Options{}); err != nil {
				t.Fatal(err)
			}
			s.SetResolver(stack.EtherTypeIPv4, peerResolver{})
			dev := &capDev{}
			nic, err := s.AddNIC("eth0", link.NewEthernet(dev, ptOurMAC))
			if err != nil {
				t.Fatal(err)
			}
			if err := nic.AddAddress(netip.MustParsePrefix("10.0.0.2/24")); err != nil {
				t.Fatal(err)
			}
			dev.d.DeliverFrame(stack.NewPacketFrom(echoFrame(t, tc.tags)))
			out := dev.take()
			if tc.counter != "" && s.Counters().Value(tc.counter) != 1 {
				t.Errorf("%s = %d, want 1", tc.counter, s.Counters().Value(tc.counter))
			}
			if !tc.replied {
				if len(out) != 0 {
					t.Errorf("answered %d times, want no answer", len(out))
				}
			} else {
				if len(out) != 1 {
					t.Fatalf("%d frames sent, want one echo reply", len(out))
				}
				pkt := gopacket.NewPacket(out[0], layers.LayerTypeEthernet, gopacket.Default)
				eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
				ic, _ := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
				ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
				switch {
				case eth == nil || ic == nil || ip == nil:
					t.Fatalf("gopacket: no Ethernet/IPv4/ICMP in % x (%v)", out[0], pkt.ErrorLayer())
				case pkt.Layer(layers.LayerTypeDot1Q) != nil || eth.EthernetType != layers.EthernetTypeIPv4:
					t.Errorf("reply is tagged: EtherType %v", eth.EthernetType)
				case eth.DstMAC.String() != net.HardwareAddr(ptPeerMAC[:]).String():
					t.Errorf("reply to %v", eth.DstMAC)
				case ic.TypeCode.Type() != layers.ICMPv4TypeEchoReply || ic.Id != 9 || string(ic.Payload) != "priority":
					t.Errorf("reply %v id %d payload %q", ic.TypeCode, ic.Id, ic.Payload)
				case !ip.DstIP.Equal(net.IP{10, 0, 0, 1}):
					t.Errorf("reply to %v", ip.DstIP)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if n := stack.LivePackets(); n != live {
				t.Errorf("leak: %d live packets, want %d", n, live)
			}
		})
	}
}
