package ipv6

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/tapstack/tapstack/stack"
)

func TestExtensionHeaderRules(t *testing.T) {
	mc := netip.MustParseAddr("ff02::1")
	const (
		deliver = iota
		drop
		paramProblem
	)
	many := []byte{}
	for range MaxExtensionHeaders + 1 {
		many = append(many, ext(ProtoDestOptions, 1, 4, 0, 0, 0, 0)...)
	}
	many[len(many)-8] = 17
	tests := []struct {
		name    string
		first   uint8
		payload []byte
		dst     netip.Addr
		want    int
		counter string
		code    uint8
		pointer uint32
	}{
		{"RFC 8200 4.2 Pad1 and PadN skipped", ProtoHopByHop, cat(ext(17, 0, 1, 2, 0, 0, 0)), ourAddr, deliver, "", 0, 0},
		{"router alert in hop-by-hop (MLD) accepted", ProtoHopByHop, ext(17, 5, 2, 0, 0, 1, 0), ourAddr, deliver, "", 0, 0},
		{"RFC 8200 4.2 type 00 unknown option skipped", ProtoDestOptions, ext(17, 0x1e, 4, 1, 2, 3, 4), ourAddr, deliver, "", 0, 0},
		{"RFC 8200 4.2 type 01 discards silently", ProtoDestOptions, ext(17, 0x5e, 4, 1, 2, 3, 4), ourAddr, drop, "ipv6.rx.option_discard", 0, 0},
		{"RFC 8200 4.2 type 10 parameter problem code 2 at the option", ProtoDestOptions, ext(17, 1, 0, 0x9e, 2, 0, 0), ourAddr, paramProblem, "ipv6.rx.param_problem", 2, 44},
		{"RFC 8200 4.2 type 10 answered for multicast too", ProtoDestOptions, ext(17, 0x9e, 4, 0, 0, 0, 0), mc, paramProblem, "ipv6.rx.param_problem", 2, 42},
		{"RFC 8200 4.2 type 11 parameter problem for unicast", ProtoHopByHop, ext(17, 0xde, 4, 0, 0, 0, 0), ourAddr, paramProblem, "ipv6.rx.param_problem", 2, 42},
		{"RFC 8200 4.2 type 11 silent for multicast", ProtoHopByHop, ext(17, 0xde, 4, 0, 0, 0, 0), mc, drop, "ipv6.rx.option_discard", 0, 0},
		{"RFC 8200 4.3 hop-by-hop not first", ProtoDestOptions, cat(ext(ProtoHopByHop, 1, 4, 0, 0, 0, 0), ext(17, 1, 4, 0, 0, 0, 0)), ourAddr, paramProblem, "ipv6.rx.param_problem", 1, 40},
		{"RFC 5095 routing type 0 with segments left refused at the type", ProtoRouting, ext(17, 0, 1, 0, 0, 0, 0), ourAddr, paramProblem, "ipv6.rx.param_problem", 0, 42},
		{"RFC 5095 3 routing type 0 with segments left 0 skipped like an unknown type", ProtoRouting, ext(17, 0, 0, 0, 0, 0, 0), ourAddr, deliver, "", 0, 0},
		{"RFC 8200 4.4 unknown routing type, segments left 0, skipped", ProtoRouting, ext(17, 253, 0, 0, 0, 0, 0), ourAddr, deliver, "", 0, 0},
		{"RFC 8200 4.4 unknown routing type with segments left refused", ProtoRouting, ext(17, 253, 2, 0, 0, 0, 0), ourAddr, paramProblem, "ipv6.rx.param_problem", 0, 42},
		{"option runs past its header", ProtoDestOptions, ext(17, 0x1e, 5, 0, 0, 0, 0), ourAddr, drop, "ipv6.rx.bad_ext_header", 0, 0},
		{"more than 8 options", ProtoDestOptions, ext(17, 0x1e, 0, 0x1e, 0, 0x1e, 0, 0x1e, 0, 0x1e, 0, 0x1e, 0, 0x1e, 0, 0x1e, 0, 0x1e, 0, 1, 2, 0, 0), ourAddr, drop, "ipv6.rx.bad_ext_header", 0, 0},
		{"chain longer than MaxExtensionHeaders", ProtoDestOptions, many, ourAddr, drop, "ipv6.rx.ext_chain_too_long", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			data := udpish("x")
			b := ipPacket(Fields{NextHeader: tc.first, Src: peerAddr, Dst: tc.dst}, cat(tc.payload, data))
			linkDst := ourMAC
			if tc.dst.IsMulticast() {
				linkDst = stack.MulticastMAC(tc.dst)
			}
			e.inject(b, linkDst)
			got := e.udp.TakePackets()
			frames := e.link.Take()
			switch tc.want {
			case deliver:
				if len(got) != 1 || !bytes.Equal(got[0].Data, data) {
					t.Fatalf("not delivered (%d)", len(got))
				}
				return
			case drop:
				if len(frames) != 0 {
					t.Errorf("sent %d frames", len(frames))
				}
			case paramProblem:
				if len(frames) != 1 {
					t.Fatalf("sent %d frames, want a parameter problem", len(frames))
				}
				_, ic := decode(t, frames[0].Data)
				if ic == nil || ic.TypeCode != layers.CreateICMPv6TypeCode(layers.ICMPv6TypeParameterProblem, tc.code) {
					t.Fatalf("got %v, want parameter problem code %d", ic, tc.code)
				}
				if p := binary.BigEndian.Uint32(ic.Payload); p != tc.pointer {
					t.Errorf("pointer %d, want %d", p, tc.pointer)
				}
			}
			if len(got) != 0 {
				t.Errorf("delivered")
			}
			if e.count(tc.counter) != 1 {
				t.Errorf("%s = %d", tc.counter, e.count(tc.counter))
			}
		})
	}
}

func TestSkipChain(t *testing.T) {
	fh := make([]byte, 8)
	EncodeFragmentHeader(fh, 6, 1448, true, 1)
	tests := []struct {
		name    string
		b       []byte
		proto   uint8
		off     int
		fragOff int
		ok      bool
	}{
		{"bare", ipPacket(Fields{NextHeader: 6}, make([]byte, 20)), 6, 40, 0, true},
		{"hop-by-hop, destination options", ipPacket(Fields{NextHeader: 0}, cat(ext(60, 1, 4, 0, 0, 0, 0), ext(17, 1, 4, 0, 0, 0, 0), udpish(""))), 17, 56, 0, true},
		{"non-first fragment", ipPacket(Fields{NextHeader: 44}, cat(fh, make([]byte, 8))), 6, 48, 1448, true},
		{"truncated", ipPacket(Fields{NextHeader: 60}, []byte{17, 3, 1}), 0, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			proto, off, fragOff, ok := SkipChain(tc.b)
			if proto != tc.proto || off != tc.off || fragOff != tc.fragOff || ok != tc.ok {
				t.Errorf("SkipChain = %d %d %d %v", proto, off, fragOff, ok)
			}
		})
	}
}

func FuzzExtensionChain(f *testing.F) {
	f.Add(uint8(0), cat(ext(60, 1, 4, 0, 0, 0, 0), ext(43, 0x9e, 4, 0, 0, 0, 0), ext(44, 0, 0, 0, 0, 0, 0), udpish("")), false)
	f.Add(uint8(43), ext(17, 0, 1, 0, 0, 0, 0), true)
	f.Add(uint8(60), []byte{17, 0, 0xde, 4, 0, 0, 0}, false)
	f.Fuzz(func(t *testing.T, first uint8, rest []byte, multicast bool) {
		if len(rest) > 0xffff-HeaderLen {
			return
		}
		b := ipPacket(Fields{NextHeader: first}, rest)
		h := Header(b)
		if h.Validate() != nil {
			return
		}
		r := WalkChain(h, Start(h), multicast)
		if r.Err == nil {
			if r.Pos.Off > len(b) || r.Pos.Off < HeaderLen || r.Pos.NextOff >= r.Pos.Off || b[r.Pos.NextOff] != r.Pos.Next && r.Pos.NextOff != 6 {
				t.Fatalf("bad position %+v in % x", r.Pos, b)
			}
			if r.Pos.Count > MaxExtensionHeaders {
				t.Fatalf("walked %d headers", r.Pos.Count)
			}
		}
		if r.Err == ErrExtParamProblem && int(r.Pointer) >= len(b) {
			t.Fatalf("pointer %d outside %d bytes", r.Pointer, len(b))
		}
		_, _, _, _ = SkipChain(b)
		_ = chainComplete(h, Start(h))
	})
}
