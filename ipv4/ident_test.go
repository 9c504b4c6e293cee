package ipv4

import (
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/stack"
)

// TestRFC6864AtomicDatagramID: datagrams with DF set (all of TCP's) carry
// ID 0 (RFC 6864 section 4.1, FreeBSD's net.inet.ip.rfc6864), so the IDs a
// host sees in what we send it do not depend on how many packets we sent
// others in between: with one stack-wide counter they counted, for an
// off-path attacker, the challenge ACKs we sent to a victim's peer
// (CVE-2016-5696 through the IP ID). Datagrams that may be fragmented
// still get distinct IDs, which reassembly needs, from a counter that
// TCP's segments do not advance.
func TestRFC6864AtomicDatagramID(t *testing.T) {
	tcp := stack.NetworkParams{Protocol: stack.ProtocolTCP, DontFragment: true}
	udp := stack.NetworkParams{Protocol: stack.ProtocolUDP}
	tests := []struct {
		name      string
		params    stack.NetworkParams // what the attacker receives
		wantSame  bool                // its IDs do not depend on others' traffic
		wantFixed bool                // and are 0
	}{
		{"DF (TCP)", tcp, true, true},
		{"not DF (UDP): distinct for reassembly", udp, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// ids sends the attacker 3 datagrams with others datagrams
			// (TCP, to the victim's peer) between each two, and returns
			// the IDs the attacker saw.
			ids := func(others int) []uint16 {
				e := newEnv(t, Options{})
				send := func(dst netip.Addr, params stack.NetworkParams) {
					r, err := e.s.FindRoute(dst, netip.Addr{})
					if err != nil {
						t.Fatal(err)
					}
					payload := udpish("x")
					p := stack.NewPacket(stack.Headroom, len(payload))
					copy(p.Bytes(), payload)
					if err := r.WritePacket(params, p); err != nil {
						t.Fatal(err)
					}
				}
				var got []uint16
				for range 3 {
					send(peerAddr, tt.params)
					for range others {
						send(otherAddr, tcp)
					}
					for _, fr := range e.link.Take() {
						if ip := decodeIP(t, fr.Data); ip.DstIP.String() == peerAddr.String() {
							got = append(got, ip.Id)
						}
					}
				}
				if len(got) != 3 {
					t.Fatalf("the attacker got %d datagrams, want 3", len(got))
				}
				return got
			}
			quiet, busy := ids(0), ids(5)
			same := quiet[1]-quiet[0] == busy[1]-busy[0] && quiet[2]-quiet[1] == busy[2]-busy[1]
			if same != tt.wantSame {
				t.Errorf("IDs %v with no other traffic, %v with 5 datagrams to another host between them", quiet, busy)
			}
			fixed := quiet[0] == 0 && quiet[1] == 0 && quiet[2] == 0 && busy[0] == 0
			if fixed != tt.wantFixed {
				t.Errorf("IDs %v, want all 0: %v", quiet, tt.wantFixed)
			}
			if !tt.wantFixed && (quiet[0] == quiet[1] || quiet[1] == quiet[2]) {
				t.Errorf("IDs repeat: %v", quiet)
			}
		})
	}
}
