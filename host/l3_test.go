package host

import (
	"context"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// l3Dev is one end of a link.Pipe that says it carries bare IP packets,
// as a TUN does.
type l3Dev struct{ link.Device }

func (l3Dev) IsL3() bool { return true }

// TestL3DeviceInterface: a device whose IsL3 reports true becomes an L3
// interface: both families work over it without a link layer, it gets no
// link-local address, sends no ARP or NDP, and a MAC or DHCP for it is an
// operator mistake.
func TestL3DeviceInterface(t *testing.T) {
	da, db := link.Pipe(1500)
	a, err := New(Config{Interfaces: []Interface{{Name: "tun0", Device: l3Dev{da}, Addr: netip.MustParsePrefix("10.9.0.1/24"), Addrs: []netip.Prefix{netip.MustParsePrefix("fd09::1/64")}}}, DetectConflicts: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(Config{Interfaces: []Interface{{Name: "tun0", Device: l3Dev{db}, Addr: netip.MustParsePrefix("10.9.0.2/24"), Addrs: []netip.Prefix{netip.MustParsePrefix("fd09::2/64")}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, p := range a.Stack().NICs()[0].Addresses() {
		if p.Addr().IsLinkLocalUnicast() {
			t.Errorf("L3 interface got link-local %v", p)
		}
	}
	l, err := b.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.Copy(c, c)
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, dst := range []string{"10.9.0.2:7", "[fd09::2]:7"} {
		c, err := a.DialContext(ctx, "tcp", dst)
		if err != nil {
			t.Fatalf("dial %s: %v", dst, err)
		}
		c.Write([]byte("over L3"))
		buf := make([]byte, 7)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "over L3" {
			t.Errorf("%s: read %q, %v", dst, buf, err)
		}
		c.Close()
	}
	for _, c := range a.Stack().Counters().Snapshot() {
		if (strings.HasPrefix(c.Name, "arp.tx.") || strings.HasPrefix(c.Name, "ndp.tx.")) && c.Value != 0 {
			t.Errorf("%s = %d on an L3 link", c.Name, c.Value)
		}
	}

	for _, ifc := range []Interface{{MAC: stack.MAC{2, 0, 0, 0, 0, 1}, Addr: netip.MustParsePrefix("10.9.0.3/24")}, {DHCP: true}} {
		d, peer := link.Pipe(1500)
		ifc.Device = l3Dev{d}
		if h, err := New(Config{Interfaces: []Interface{ifc}}); err == nil {
			h.Close()
			t.Errorf("New(%+v) on an L3 device succeeded", ifc)
		} else if !strings.Contains(err.Error(), "L3 device") {
			t.Errorf("error %q does not say it is an L3 device", err)
		}
		peer.Close()
	}
}
