package dhcp

import (
	"bytes"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func fullFields() Fields {
	return Fields{
		Op: OpReply, HType: 1, Hops: 1, XID: 0xdeadbeef, Secs: 7, Flags: FlagBroadcast,
		CIAddr: netip.MustParseAddr("10.0.0.9"), YIAddr: offered, SIAddr: serverA, GIAddr: netip.MustParseAddr("10.0.0.3"),
		CHAddr: macA, MessageType: Ack, SubnetMask: 24,
		Router: []netip.Addr{router, serverB}, DNS: []netip.Addr{dnsAddr},
		Hostname: "vm1", RequestedIP: offered, LeaseTime: 2 * time.Minute, ServerID: serverA,
		ParamList: []uint8{1, 3, 6}, Message: "ok", MaxSize: 1500, T1: time.Minute, T2: 105 * time.Second,
		ClientID: []byte{1, 2, 0, 0, 0, 0, 0xaa}, Extra: []Option{{Code: 15, Data: []byte("test")}},
	}
}

func TestFieldsRoundTrip(t *testing.T) {
	for _, f := range []Fields{fullFields(), {Op: OpRequest, HType: 1, XID: 1, CHAddr: macA, MessageType: Discover}} {
		b := f.Marshal()
		if len(b) != f.Len() {
			t.Fatalf("Marshal %d bytes, Len %d", len(b), f.Len())
		}
		m := Message(b)
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
		got := m.Fields()
		// Unset addresses decode as 0.0.0.0.
		for _, p := range []*netip.Addr{&f.CIAddr, &f.YIAddr, &f.SIAddr, &f.GIAddr} {
			if !p.IsValid() {
				*p = zeroAddr
			}
		}
		if !reflect.DeepEqual(got, f) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, f)
		}
	}
}

// gopacket, an independent decoder, reads what we encode.
func TestEncodeGopacketOracle(t *testing.T) {
	f := fullFields()
	b := f.Marshal()
	var d layers.DHCPv4
	if err := d.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if d.Operation != layers.DHCPOpReply || d.Xid != f.XID || d.Flags != f.Flags || !d.YourClientIP.Equal(net.IP(offered.AsSlice())) ||
		!bytes.Equal(d.ClientHWAddr, macA[:]) || d.Secs != 7 || !d.RelayAgentIP.Equal(net.IPv4(10, 0, 0, 3)) {
		t.Errorf("gopacket header: %+v", d)
	}
	opts := map[layers.DHCPOpt][]byte{}
	for _, o := range d.Options {
		opts[o.Type] = o.Data
	}
	want := map[layers.DHCPOpt][]byte{
		layers.DHCPOptMessageType: {byte(Ack)},
		layers.DHCPOptSubnetMask:  {255, 255, 255, 0},
		layers.DHCPOptRouter:      {10, 0, 0, 1, 10, 0, 0, 254},
		layers.DHCPOptDNS:         {10, 0, 0, 53},
		layers.DHCPOptHostname:    []byte("vm1"),
		layers.DHCPOptLeaseTime:   {0, 0, 0, 120},
		layers.DHCPOptServerID:    {10, 0, 0, 1},
		layers.DHCPOptT1:          {0, 0, 0, 60},
		layers.DHCPOptT2:          {0, 0, 0, 105},
		layers.DHCPOptClientID:    {1, 2, 0, 0, 0, 0, 0xaa},
		layers.DHCPOptDomainName:  []byte("test"),
	}
	for k, v := range want {
		if !bytes.Equal(opts[k], v) {
			t.Errorf("option %v = %v, want %v", k, opts[k], v)
		}
	}
	// And we read what gopacket encodes.
	g := layers.DHCPv4{
		Operation: layers.DHCPOpReply, HardwareType: layers.LinkTypeEthernet, HardwareLen: 6, Xid: 42,
		YourClientIP: net.IPv4(10, 0, 0, 50), ClientHWAddr: net.HardwareAddr(macA[:]),
		Options: layers.DHCPOptions{
			layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{byte(Offer)}),
			layers.NewDHCPOption(layers.DHCPOptServerID, []byte{10, 0, 0, 1}),
			layers.NewDHCPOption(layers.DHCPOptLeaseTime, []byte{0, 0, 1, 0}),
		},
	}
	buf := gopacket.NewSerializeBuffer()
	if err := g.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatal(err)
	}
	m := Message(buf.Bytes())
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	gf := m.Fields()
	if gf.MessageType != Offer || gf.ServerID != serverA || gf.LeaseTime != 256*time.Second || gf.YIAddr != offered || gf.XID != 42 || gf.CHAddr != macA {
		t.Errorf("decoded gopacket message: %+v", gf)
	}
}

func TestValidate(t *testing.T) {
	good := fullFields().Marshal()
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	opt := func(code uint8, data ...byte) []byte {
		b := append([]byte(nil), good[:MinLen]...)
		return append(append(b, code, uint8(len(data))), append(data, OptEnd)...)
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"good", good, nil},
		{"empty", nil, ErrTooShort},
		{"239 bytes", good[:239], ErrTooShort},
		{"no options", good[:MinLen], nil},
		{"no end", good[:len(good)-1], nil},
		{"pads then end", append(append([]byte(nil), good[:MinLen]...), 0, 0, 0, 255), nil},
		{"bad cookie", mod(func(b []byte) []byte { b[239] = 0; return b }), ErrBadCookie},
		{"hlen 17", mod(func(b []byte) []byte { b[2] = 17; return b }), ErrBadHardware},
		{"option past end", opt(12, 1, 2, 3)[:MinLen+4], ErrBadOption},
		{"code without length", append(append([]byte(nil), good[:MinLen]...), 12), ErrBadOption},
		{"mask 3 bytes", opt(OptSubnetMask, 255, 255, 255), ErrBadOptionLen},
		{"router 5 bytes", opt(OptRouter, 1, 2, 3, 4, 5), ErrBadOptionLen},
		{"dns empty", opt(OptDNS), ErrBadOptionLen},
		{"type 2 bytes", opt(OptMessageType, 1, 2), ErrBadOptionLen},
		{"lease 2 bytes", opt(OptLeaseTime, 1, 2), ErrBadOptionLen},
		{"unknown option any length", opt(200, 1, 2, 3), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Message(tt.b).Validate(); err != tt.want {
				t.Errorf("Validate = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSubnetMaskDecoding(t *testing.T) {
	for _, tt := range []struct {
		mask []byte
		want int
	}{
		{[]byte{255, 255, 255, 0}, 24}, {[]byte{255, 255, 255, 255}, 32}, {[]byte{0, 0, 0, 0}, 0}, {[]byte{255, 0, 255, 0}, -1},
	} {
		b := append(Fields{Op: OpReply}.withMask(tt.mask), OptEnd)
		if got := Message(b).Fields().SubnetMask; got != tt.want {
			t.Errorf("mask %v: %d, want %d", tt.mask, got, tt.want)
		}
	}
}

func (f Fields) withMask(mask []byte) []byte {
	b := f.Marshal()
	b = b[:len(b)-1]
	return append(append(b, OptSubnetMask, 4), mask...)
}

func TestLeaseDefaults(t *testing.T) {
	f := Fields{YIAddr: netip.MustParseAddr("172.16.0.5"), LeaseTime: 800 * time.Second}
	l := leaseFrom(&f, t0, 0)
	if l.Addr.Bits() != 16 || l.T1 != 400*time.Second || l.T2 != 700*time.Second {
		t.Errorf("lease %v T1 %v T2 %v", l.Addr, l.T1, l.T2)
	}
	// Bogus T1/T2 from a server are replaced.
	f.T1, f.T2 = time.Hour, time.Second
	if l := leaseFrom(&f, t0, 0); l.T1 != 400*time.Second || l.T2 != 700*time.Second {
		t.Errorf("bogus timers: T1 %v T2 %v", l.T1, l.T2)
	}
	if s := MessageType(3).String() + " " + MessageType(99).String() + " " + StateRebinding.String(); s != "DHCPREQUEST DHCP(99) REBINDING" {
		t.Errorf("names: %s", s)
	}
}
