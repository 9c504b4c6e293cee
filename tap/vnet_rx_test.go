package tap

import (
	"testing"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// TestDeliverVnetMetadata: the receive path turns the virtio-net header
// into packet metadata: NEEDS_CSUM is ChecksumOK and ChecksumPartial (the
// field holds only the pseudo-header sum, which a router must complete),
// DATA_VALID only ChecksumOK, and a GSO super-segment carries its segment
// size in GSOSize; small and large frames alike.
func TestDeliverVnetMetadata(t *testing.T) {
	small := ipv4Frame(0, stack.ProtocolTCP, tcpSegment(5, 1, []byte("x")))
	large := ipv4Frame(0, stack.ProtocolTCP, tcpSegment(5, 1, make([]byte, 8000)))
	tests := []struct {
		name          string
		hdr           VirtioNetFields
		frame         []byte
		ok, partial   bool
		gso           uint16
		wantDelivered bool
	}{
		{"plain", VirtioNetFields{}, small, false, false, 0, true},
		{"needs csum", VirtioNetFields{Flags: VirtioNetNeedsCsum, CsumStart: 34, CsumOffset: 16}, small, true, true, 0, true},
		{"data valid", VirtioNetFields{Flags: VirtioNetDataValid}, small, true, false, 0, true},
		{"gso", VirtioNetFields{Flags: VirtioNetNeedsCsum, GSOType: VirtioNetGSOTCPv4, GSOSize: 1448, HdrLen: 54, CsumStart: 34, CsumOffset: 16}, large, true, true, 1448, true},
		{"gso ecn", VirtioNetFields{Flags: VirtioNetNeedsCsum, GSOType: VirtioNetGSOTCPv4 | VirtioNetGSOECN, GSOSize: 1000}, large, true, true, 1000, true},
		{"gso udp (not offered)", VirtioNetFields{Flags: VirtioNetNeedsCsum, GSOType: VirtioNetGSOUDPL4, GSOSize: 1000}, large, false, false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Device{mtu: 1500, maxFrame: 1500 + 14 + 8, vnet: true, bufLen: VirtioNetHeaderLen + gsoFrameMax + 1}
			live := stack.LivePackets()
			p := stack.NewPacket(stack.MaxPacketSize-d.bufLen, d.bufLen)
			tt.hdr.Encode(p.Bytes())
			n := copy(p.Bytes()[VirtioNetHeaderLen:], tt.frame) + VirtioNetHeaderLen
			delivered := false
			p = d.deliverVnet(p, n, link.FrameDispatcherFunc(func(q *stack.Packet) {
				delivered = true
				if q.ChecksumOK != tt.ok || q.ChecksumPartial != tt.partial || q.GSOSize != tt.gso {
					t.Errorf("ChecksumOK %v ChecksumPartial %v GSOSize %d, want %v %v %d", q.ChecksumOK, q.ChecksumPartial, q.GSOSize, tt.ok, tt.partial, tt.gso)
				}
				q.Release()
			}), false)
			if p != nil {
				p.Release()
			}
			if delivered != tt.wantDelivered {
				t.Errorf("delivered %v, want %v", delivered, tt.wantDelivered)
			}
			if tt.partial && d.Stats().RxChecksumPartial != 1 {
				t.Errorf("RxChecksumPartial %d", d.Stats().RxChecksumPartial)
			}
			if n := stack.LivePackets(); n != live {
				t.Errorf("%d packets leaked", n-live)
			}
		})
	}
}
