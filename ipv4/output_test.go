package ipv4

// Sending: WritePacket, fragmentation, loopback and resolution failures.

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/ip4defrag"
	"github.com/gopacket/gopacket/layers"

	"github.com/tapstack/tapstack/stack"
)

func TestWritePacket(t *testing.T) {
	bcast := netip.MustParseAddr("255.255.255.255")
	tests := []struct {
		name    string
		dst     netip.Addr
		params  stack.NetworkParams
		ttl     uint8
		linkDst stack.MAC
	}{
		{"default ttl", peerAddr, stack.NetworkParams{Protocol: 17}, 64, peerMAC},
		{"ttl, tos, df", peerAddr, stack.NetworkParams{Protocol: 6, TTL: 3, TOS: 0x2e, DontFragment: true}, 3, peerMAC},
		{"directed broadcast", dirBcast, stack.NetworkParams{Protocol: 17}, 64, stack.BroadcastMAC},
		{"limited broadcast", bcast, stack.NetworkParams{Protocol: 17}, 64, stack.BroadcastMAC},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			r, err := e.s.FindRoute(tc.dst, netip.Addr{})
			if err != nil {
				t.Fatal(err)
			}
			var ids []uint16
			for i := range 2 {
				payload := udpish("payload")
				p := stack.NewPacket(stack.Headroom, len(payload))
				copy(p.Bytes(), payload)
				if err := r.WritePacket(tc.params, p); err != nil {
					t.Fatal(err)
				}
				fr := oneFrame(t, e.link)
				if fr.Dst != tc.linkDst {
					t.Errorf("link dst %v, want %v", fr.Dst, tc.linkDst)
				}
				ip := decodeIP(t, fr.Data)
				checkIPChecksum(t, fr.Data)
				if ip.SrcIP.String() != ourAddr.String() || ip.DstIP.String() != tc.dst.String() || ip.TTL != tc.ttl ||
					uint8(ip.Protocol) != tc.params.Protocol || ip.TOS != tc.params.TOS || ip.IHL != 5 || ip.Version != 4 ||
					(ip.Flags&layers.IPv4DontFragment != 0) != tc.params.DontFragment || int(ip.Length) != 20+len(payload) ||
					!bytes.Equal(ip.Payload, payload) {
					t.Errorf("packet %d: %+v", i, ip)
				}
				ids = append(ids, ip.Id)
			}
			if tc.params.DontFragment && (ids[0] != 0 || ids[1] != 0) {
				t.Errorf("IDs %v with DF, want 0 (RFC 6864)", ids)
			} else if !tc.params.DontFragment && ids[0] == ids[1] {
				t.Errorf("IDs repeat: %v", ids)
			}
		})
	}
}

func TestWritePacketTooLong(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		df      bool
		partial bool
		wantErr bool
	}{
		{"fits", 1480, true, true, false},
		{"DF", 1481, true, false, true},
		{"checksum offload", 1481, false, true, true},
		{"beyond 64 KiB", 65516, false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			r, _ := e.s.FindRoute(peerAddr, netip.Addr{})
			p := stack.NewPacket(stack.Headroom, tc.n)
			p.ChecksumPartial = tc.partial
			err := r.WritePacket(stack.NetworkParams{Protocol: 17, DontFragment: tc.df}, p)
			if (err != nil) != tc.wantErr || (tc.wantErr && !errors.Is(err, stack.ErrMessageTooLong)) {
				t.Fatalf("err %v", err)
			}
			sent := len(e.link.Take())
			if tc.wantErr && (sent != 0 || e.count("ipv4.tx.too_long") != 1) {
				t.Errorf("sent %d, too_long %d", sent, e.count("ipv4.tx.too_long"))
			}
		})
	}
}

func TestFragmentation(t *testing.T) {
	tests := []struct {
		mtu, n, frags int
	}{
		{1500, 1490, 2}, // gopacket refuses last fragments under 8 bytes (legal, but "handcrafted?")
		{1500, 4000, 3},
		{576, 65515, 119},
		{68, 104, 3},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d bytes over MTU %d", tc.n, tc.mtu), func(t *testing.T) {
			e := newEnv(t, Options{})
			e.link.SetMTU(tc.mtu)
			r, _ := e.s.FindRoute(peerAddr, netip.Addr{})
			data := make([]byte, tc.n)
			for i := range data {
				data[i] = byte(i * 7)
			}
			p := stack.NewPacket(stack.Headroom, len(data))
			copy(p.Bytes(), data)
			if err := r.WritePacket(stack.NetworkParams{Protocol: 17, TTL: 9}, p); err != nil {
				t.Fatal(err)
			}
			fs := e.link.Take()
			if len(fs) != tc.frags {
				t.Fatalf("%d fragments, want %d", len(fs), tc.frags)
			}
			// Independent oracle: gopacket's defragmenter.
			d := ip4defrag.NewIPv4Defragmenter()
			var whole *layers.IPv4
			for i, f := range fs {
				if len(f.Data) > tc.mtu {
					t.Fatalf("fragment %d is %d bytes", i, len(f.Data))
				}
				checkIPChecksum(t, f.Data)
				out, err := d.DefragIPv4(decodeIP(t, f.Data))
				if err != nil {
					t.Fatal(err)
				}
				if out != nil {
					whole = out
				}
			}
			if whole == nil || !bytes.Equal(whole.Payload, data) || whole.TTL != 9 || whole.Protocol != 17 {
				t.Fatalf("reassembled %v", whole)
			}
			if e.count("ipv4.tx.fragments") != uint64(tc.frags) {
				t.Errorf("ipv4.tx.fragments = %d", e.count("ipv4.tx.fragments"))
			}
		})
	}
}

func TestLoopback(t *testing.T) {
	e := newEnv(t, Options{})
	r, err := e.s.FindRoute(ourAddr, netip.Addr{})
	if err != nil || !r.Local {
		t.Fatalf("route %+v, %v", r, err)
	}
	payload := udpish("to myself")
	p := stack.NewPacket(stack.Headroom, len(payload))
	copy(p.Bytes(), payload)
	p.ChecksumPartial = true
	if err := r.WritePacket(stack.NetworkParams{Protocol: 17, TTL: 5}, p); err != nil {
		t.Fatal(err)
	}
	e.pr.flushLoopback()
	got := e.udp.TakePackets()
	if len(got) != 1 {
		t.Fatalf("transport got %d packets", len(got))
	}
	if d := got[0]; d.Src != ourAddr || d.Dst != ourAddr || d.TTL != 5 || !d.ChecksumOK || !bytes.Equal(d.Data, payload) {
		t.Errorf("delivered %+v", d)
	}
	if len(e.link.Take()) != 0 {
		t.Errorf("a looped-back packet reached the link")
	}

	// A refused datagram to ourselves comes back as port unreachable,
	// itself looped back and handed to the transport as an error.
	e.udp.SetRefuse(true)
	p = stack.NewPacket(stack.Headroom, len(payload))
	copy(p.Bytes(), payload)
	if err := r.WritePacket(stack.NetworkParams{Protocol: 17}, p); err != nil {
		t.Fatal(err)
	}
	e.pr.flushLoopback()
	errs := e.udp.TakeErrors()
	if len(errs) != 1 || errs[0].Kind != stack.ErrorPortUnreachable || errs[0].Src != ourAddr || errs[0].Dst != ourAddr ||
		!bytes.Equal(errs[0].Transport, payload[:8]) {
		t.Errorf("errors %+v", errs)
	}

	// Ping ourselves: request and reply both loop back.
	p = stack.NewPacket(stack.Headroom, 12)
	ICMPFields{Type: ICMPEcho, Rest: EchoRest(9, 9), Payload: []byte("ping")}.encodeTo(p.Bytes())
	if err := r.WritePacket(stack.NetworkParams{Protocol: 1}, p); err != nil {
		t.Fatal(err)
	}
	e.pr.flushLoopback()
	if e.count("icmp.rx.echo_request") != 1 || e.count("icmp.rx.echo_reply") != 1 {
		t.Errorf("echo request %d, reply %d", e.count("icmp.rx.echo_request"), e.count("icmp.rx.echo_reply"))
	}
}

// encodeTo is Encode on a value, for brevity in tests.
func (f ICMPFields) encodeTo(b []byte) { f.Encode(b) }

func TestCloseStopsLoopback(t *testing.T) {
	e := newEnv(t, Options{})
	if err := e.pr.Close(); err != nil {
		t.Fatal(err)
	}
	<-e.pr.loop.Done()
	r, _ := e.s.FindRoute(ourAddr, netip.Addr{})
	err := r.WritePacket(stack.NetworkParams{Protocol: 17}, stack.NewPacket(stack.Headroom, 8))
	if !errors.Is(err, stack.ErrClosed) {
		t.Errorf("write after Close: %v", err)
	}
	if err := e.pr.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestResolutionFailure(t *testing.T) {
	e := newEnv(t, Options{})
	payload := udpish("lost")
	b := ipPacket(Fields{Protocol: 17, Src: ourAddr, Dst: otherAddr}, payload)
	e.s.ResolutionFailed(e.nic, otherAddr, stack.EtherTypeIPv4, stack.NewPacketFrom(b))
	errs := e.udp.TakeErrors()
	if len(errs) != 1 {
		t.Fatalf("%d errors", len(errs))
	}
	want := stack.TransportError{Kind: stack.ErrorHostUnreachable, Src: ourAddr, Dst: otherAddr}
	got := errs[0]
	if !bytes.Equal(got.Transport, payload) {
		t.Errorf("Transport % x", got.Transport)
	}
	got.Transport = nil
	if !sameError(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if len(e.link.Take()) != 0 {
		t.Errorf("sent a wire ICMP for our own packet")
	}
	// Garbage and packets of transports we do not have are just released.
	e.s.ResolutionFailed(e.nic, otherAddr, stack.EtherTypeIPv4, stack.NewPacketFrom([]byte{0x45, 0}))
	e.s.ResolutionFailed(e.nic, otherAddr, stack.EtherTypeIPv4,
		stack.NewPacketFrom(ipPacket(Fields{Protocol: 6, Src: ourAddr, Dst: otherAddr}, payload)))
	if errs := e.udp.TakeErrors(); len(errs) != 0 {
		t.Errorf("unexpected errors %+v", errs)
	}
}
