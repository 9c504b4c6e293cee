package ipv4

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/tapstack/tapstack/stack"
)

// TestRFC1122EchoReplyUpdatesRecordRouteAndTimestamp checks RFC 1122
// 3.2.2.6: a Record Route or Time Stamp option received in an echo request
// SHOULD be updated to include the current host and included in the
// reply, without truncation (RFC 791 for how each option is updated).
// Other options are not reflected (Linux's ip_options_echo). The reply is
// decoded by gopacket.
func TestRFC1122EchoReplyUpdatesRecordRouteAndTimestamp(t *testing.T) {
	us := ourAddr.As4()
	router := [4]byte{192, 0, 2, 1}
	other := [4]byte{192, 0, 2, 9}
	zero4 := make([]byte, 4)
	// The env's virtual clock starts at Unix 1,000,000 s: 49,600 s after
	// midnight UT.
	var ts [4]byte
	binary.BigEndian.PutUint32(ts[:], 49_600_000)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	rr := func(ptr byte, slots int, data ...[]byte) []byte {
		o := cat([]byte{OptionRecordRoute, byte(3 + 4*slots), ptr}, cat(data...))
		return append(o, make([]byte, 3+4*slots-len(o))...)
	}
	tsOpt := func(ptr, oflwFlag byte, size int, data ...[]byte) []byte {
		o := cat([]byte{OptionTimestamp, byte(size), ptr, oflwFlag}, cat(data...))
		return append(o, make([]byte, size-len(o))...)
	}
	pad := func(b []byte) []byte {
		for len(b)%4 != 0 {
			b = append(b, OptionEOL)
		}
		return b
	}
	tests := []struct {
		name      string
		req, want []byte // option lists of request and reply
	}{
		{"ping -R: NOP and an empty record route of 9 slots",
			cat([]byte{OptionNOP}, rr(4, 9)),
			pad(rr(8, 9, us[:]))},
		{"record route with a router in it",
			pad(rr(8, 9, router[:])),
			pad(rr(12, 9, router[:], us[:]))},
		{"full record route reflected unchanged",
			pad(rr(12, 2, router[:], other[:])),
			pad(rr(12, 2, router[:], other[:]))},
		{"record route with less than a slot left reflected unchanged",
			pad(cat([]byte{OptionRecordRoute, 10, 8}, router[:], []byte{0, 0, 0})),
			pad(cat([]byte{OptionRecordRoute, 10, 8}, router[:], []byte{0, 0, 0}))},
		{"timestamps only",
			tsOpt(5, 0, 12),
			tsOpt(9, 0, 12, ts[:])},
		{"address and timestamp",
			tsOpt(5, 1, 20),
			tsOpt(13, 1, 20, us[:], ts[:])},
		{"prespecified: our turn",
			tsOpt(5, 3, 20, us[:], zero4, other[:], zero4),
			tsOpt(13, 3, 20, us[:], ts[:], other[:], zero4)},
		{"prespecified: another host's turn",
			tsOpt(5, 3, 12, other[:], zero4),
			tsOpt(5, 3, 12, other[:], zero4)},
		{"full timestamp option: overflow counted",
			tsOpt(13, 0x21, 12, router[:], zero4),
			tsOpt(13, 0x31, 12, router[:], zero4)},
		{"overflow saturates at 15",
			tsOpt(9, 0xf0, 8, zero4),
			tsOpt(9, 0xf0, 8, zero4)},
		{"record route and timestamp together, router alert dropped",
			cat([]byte{OptionRouterAlert, 4, 0, 0}, rr(4, 2), tsOpt(5, 0, 8), []byte{OptionEOL}),
			pad(cat(rr(8, 2, us[:]), tsOpt(9, 0, 8, ts[:])))},
		{"NOPs only: nothing to reflect", []byte{1, 1, 1, 0}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.req)%4 != 0 {
				tc.req = pad(tc.req)
			}
			e := newEnv(t, Options{})
			payload := []byte("echo with options")
			req := ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr, Options: tc.req},
				icmpMsg(ICMPEcho, 0, EchoRest(0x77, 3), payload))
			e.inject(req, ourMAC)
			fr := oneFrame(t, e.link)
			ip, ic := decodeICMP(t, fr.Data)
			if want := 5 + len(tc.want)/4; int(ip.IHL) != want {
				t.Fatalf("reply IHL %d, want %d", ip.IHL, want)
			}
			hl := int(fr.Data[0]&0x0f) * 4
			if got := fr.Data[HeaderLen:hl]; !bytes.Equal(got, tc.want) {
				t.Errorf("reply options\n% x\nwant\n% x", got, tc.want)
			}
			// gopacket sees the same options.
			var opts []layers.IPv4Option
			for _, o := range ip.Options {
				if o.OptionType == OptionRecordRoute || o.OptionType == OptionTimestamp {
					opts = append(opts, o)
				}
			}
			for i := 0; i < len(tc.want); {
				typ := tc.want[i]
				if typ == OptionEOL {
					break
				}
				l := int(tc.want[i+1])
				if len(opts) == 0 || opts[0].OptionType != typ || !bytes.Equal(opts[0].OptionData, tc.want[i+2:i+l]) {
					t.Errorf("gopacket options %v, want type %d data % x", ip.Options, typ, tc.want[i+2:i+l])
				} else {
					opts = opts[1:]
				}
				i += l
			}
			if int(ip.Length) != hl+len(fr.Data[hl:]) || ic.TypeCode.Type() != layers.ICMPv4TypeEchoReply ||
				ic.Id != 0x77 || ic.Seq != 3 || !bytes.Equal(ic.Payload, payload) {
				t.Errorf("reply length %d type %v id %d seq %d payload %q", ip.Length, ic.TypeCode, ic.Id, ic.Seq, ic.Payload)
			}
			if ip.SrcIP.String() != ourAddr.String() || ip.DstIP.String() != peerAddr.String() {
				t.Errorf("reply %v -> %v", ip.SrcIP, ip.DstIP)
			}
		})
	}
}

// TestEchoOptionsWithoutHeadroom: a request whose packet has no headroom
// is copied; the reflected options still fit.
func TestEchoOptionsWithoutHeadroom(t *testing.T) {
	e := newEnv(t, Options{})
	opts := []byte{OptionRecordRoute, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, OptionEOL}
	req := ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr, Options: opts}, icmpMsg(ICMPEcho, 0, EchoRest(1, 1), []byte("x")))
	p := stack.NewPacket(0, len(req))
	copy(p.Bytes(), req)
	p.EtherType = stack.EtherTypeIPv4
	e.nic.DeliverNetworkPacket(p)
	fr := oneFrame(t, e.link)
	decodeICMP(t, fr.Data)
	us := ourAddr.As4()
	if want := append([]byte{OptionRecordRoute, 11, 8}, us[:]...); !bytes.Equal(fr.Data[HeaderLen:HeaderLen+7], want) {
		t.Errorf("options % x, want % x...", fr.Data[HeaderLen:HeaderLen+12], want)
	}
}

func TestEchoOptionsDoesNotReadPastList(t *testing.T) {
	var dst [MaxHeaderLen - HeaderLen]byte
	// A truncated list (not validated) is cut where it breaks.
	if n := echoOptions(&dst, []byte{OptionRecordRoute, 39, 4}, netip.MustParseAddr("10.0.0.2"), time.Unix(0, 0), nil); n != 0 {
		t.Errorf("truncated record route reflected: %d bytes", n)
	}
}

// TestEchoTimestampPrespecifiedOtherLocalAddress: with flag 3 the time is
// recorded when the next prespecified address is any of ours, not only the
// reply's source (Linux checks inet_addr_type the same way).
func TestEchoTimestampPrespecifiedOtherLocalAddress(t *testing.T) {
	e := newEnv(t, Options{})
	if err := e.nic.AddAddress(netip.MustParsePrefix("192.168.5.1/24")); err != nil {
		t.Fatal(err)
	}
	opts := []byte{OptionTimestamp, 12, 5, 3, 192, 168, 5, 1, 0, 0, 0, 0}
	req := ipPacket(Fields{Protocol: 1, Src: peerAddr, Dst: ourAddr, Options: opts}, icmpMsg(ICMPEcho, 0, EchoRest(1, 1), nil))
	e.inject(req, ourMAC)
	fr := oneFrame(t, e.link)
	decodeICMP(t, fr.Data)
	want := []byte{OptionTimestamp, 12, 13, 3, 192, 168, 5, 1}
	want = binary.BigEndian.AppendUint32(want, 49_600_000)
	if got := fr.Data[HeaderLen : HeaderLen+12]; !bytes.Equal(got, want) {
		t.Errorf("options % x, want % x", got, want)
	}
}
