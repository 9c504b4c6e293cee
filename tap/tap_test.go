package tap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

var ourMAC = stack.MAC{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}

// openIn opens a TAP inside ns and closes it when the test ends.
func openIn(t *testing.T, ns *netnstest.NS, cfg Config) *Device {
	t.Helper()
	var d *Device
	err := ns.Run(func() (err error) {
		d, err = Open(cfg)
		return err
	})
	if err != nil {
		t.Fatalf("Open(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// openErr runs Open inside ns and returns its error.
func openErr(ns *netnstest.NS, cfg Config) error {
	var d *Device
	err := ns.Run(func() (err error) {
		d, err = Open(cfg)
		return err
	})
	if d != nil {
		d.Close()
	}
	return err
}

// arpRequest builds a broadcast ARP request from (mac, ip) for target.
func arpRequest(mac stack.MAC, ip, target netip.Addr) *stack.Packet {
	p := stack.NewPacket(stack.Headroom, 14+28)
	b := p.Bytes()
	link.EthernetFields{Dst: stack.BroadcastMAC, Src: mac, EtherType: stack.EtherTypeARP}.Encode(b)
	a := b[14:]
	binary.BigEndian.PutUint16(a[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(a[2:], 0x0800) // IPv4
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], 1) // request
	copy(a[8:14], mac[:])
	s, tg := ip.As4(), target.As4()
	copy(a[14:18], s[:])
	copy(a[18:24], make([]byte, 6))
	copy(a[24:28], tg[:])
	return p
}

type frames chan *stack.Packet

func (c frames) DeliverFrame(p *stack.Packet) {
	select {
	case c <- p:
	default:
		p.Release()
	}
}

// TestARPRoundTrip sends an ARP request for the bridge's address through
// the TAP and reads the kernel's reply through the Device.
func TestARPRoundTrip(t *testing.T) {
	ns := netnstest.New(t)
	ns.AddBridge("br0", "10.0.0.1/24")
	start := stack.LivePackets()
	d := openIn(t, ns, Config{Name: "tap0", MTU: 1400, Bridge: "br0", NoOffload: true})
	if d.Name() != "tap0" || d.MTU() != 1400 {
		t.Fatalf("Name %q MTU %d", d.Name(), d.MTU())
	}

	// The kernel sees the TAP up, with our MTU, in the bridge.
	l, err := ns.Netlink().LinkByName("tap0")
	if err != nil {
		t.Fatal(err)
	}
	br, _ := ns.Netlink().LinkByName("br0")
	if l.Type() != "tuntap" || l.Attrs().MTU != 1400 || l.Attrs().MasterIndex != br.Attrs().Index || l.Attrs().Flags&(1<<0) == 0 {
		t.Errorf("tap0: type %s mtu %d master %d (br0 is %d) flags %v", l.Type(), l.Attrs().MTU, l.Attrs().MasterIndex, br.Attrs().Index, l.Attrs().Flags)
	}

	in := make(frames, 64)
	d.Attach(in)
	me, bridgeIP := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1")
	if err := d.WriteFrame(arpRequest(ourMAC, me, bridgeIP)); err != nil {
		t.Fatal(err)
	}
	guard := time.After(10 * time.Second)
	for {
		var p *stack.Packet
		select {
		case p = <-in:
		case <-guard:
			t.Fatal("no ARP reply from the kernel")
		}
		f, err := link.ParseFrame(p.Bytes())
		b := p.Bytes()
		// Skip the kernel's IPv6 chatter and anything but an ARP reply.
		if err != nil || f.EtherType != stack.EtherTypeARP || len(b) < 42 || binary.BigEndian.Uint16(b[20:22]) != 2 {
			p.Release()
			continue
		}
		if f.Dst != ourMAC || !bytes.Equal(b[28:32], []byte{10, 0, 0, 1}) || !bytes.Equal(b[32:38], ourMAC[:]) || !bytes.Equal(b[38:42], []byte{10, 0, 0, 2}) {
			t.Errorf("unexpected ARP reply % x", b)
		}
		if !bytes.Equal(b[22:28], br.Attrs().HardwareAddr) {
			t.Errorf("reply sender MAC % x, want br0's %v", b[22:28], br.Attrs().HardwareAddr)
		}
		p.Release()
		break
	}
	st := d.Stats()
	if st.TxFrames != 1 || st.TxBytes != 42 || st.RxFrames == 0 {
		t.Errorf("stats %+v", st)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for len(in) > 0 {
		(<-in).Release()
	}
	if n := stack.LivePackets(); n != start {
		t.Errorf("LivePackets %d, want %d", n, start)
	}
	// The TAP is gone with the descriptor.
	if _, err := ns.Netlink().LinkByName("tap0"); err == nil {
		t.Error("tap0 still exists after Close")
	}
	if err := d.WriteFrame(stack.NewPacket(stack.Headroom, 60)); !errors.Is(err, stack.ErrClosed) {
		t.Errorf("write after Close: %v, want ErrClosed", err)
	}
}

// TestCloseUnblocksReader: Close returns while the reader is blocked in
// read, and the reader goroutine is gone.
func TestCloseUnblocksReader(t *testing.T) {
	ns := netnstest.New(t)
	before := runtime.NumGoroutine()
	d := openIn(t, ns, Config{Name: "tap0", NoOffload: true})
	d.Attach(frames(make(chan *stack.Packet)))
	closed := make(chan error)
	go func() { closed <- d.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return: the blocked read was not woken")
	}
	select {
	case <-d.done:
	default:
		t.Fatal("Close returned before the reader ended")
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, %d before", runtime.NumGoroutine(), before)
		}
		runtime.Gosched()
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestReaderStopsWhenTAPDeleted: deleting the interface makes reads fail;
// the reader stops with a reason instead of spinning.
func TestReaderStopsWhenTAPDeleted(t *testing.T) {
	ns := netnstest.New(t)
	d := openIn(t, ns, Config{Name: "tap0", NoOffload: true})
	d.Attach(frames(make(chan *stack.Packet)))
	if _, err := ns.Output("ip", "link", "del", "tap0"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		t.Fatal("reader still running after the TAP was deleted")
	}
	if err := d.ReadErr(); err == nil || !errors.Is(err, syscall.EBADFD) {
		t.Errorf("ReadErr = %v, want EBADFD", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestOpenOperatorErrors(t *testing.T) {
	ns := netnstest.New(t)
	ns.AddBridge("br0", "")
	openIn(t, ns, Config{Name: "tapbusy", NoOffload: true}) // held open: a second Open is busy
	tests := []struct {
		name string
		cfg  Config
		kind error
		msg  string
	}{
		{"missing bridge", Config{Name: "tap1", Bridge: "br9", NoOffload: true}, ErrBridgeNotFound,
			`bridge "br9" does not exist (create it: ip link add br9 type bridge && ip link set br9 up)`},
		{"not a bridge", Config{Name: "tap1", Bridge: "lo", NoOffload: true}, ErrNotBridge,
			`link "lo" exists but is not a bridge (type device)`},
		{"busy", Config{Name: "tapbusy", NoOffload: true}, ErrBusy, `TAP "tapbusy" is busy: another process has it open`},
		{"not a tap", Config{Name: "br0", NoOffload: true}, ErrNotTAP, `cannot open TAP "br0": a link with that name exists and is not a TAP`},
		{"name too long", Config{Name: "a-very-long-tap-name", NoOffload: true}, ErrBadName,
			`interface name "a-very-long-tap-name" is too long (20 bytes, at most 15)`},
		{"bad name", Config{Name: "tap/0", NoOffload: true}, ErrBadName, `interface name "tap/0" contains '/', ':' or white space`},
		{"mtu too small", Config{Name: "tap1", MTU: 10, NoOffload: true}, ErrBadMTU, `MTU 10 is out of range (68 to 65521)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := openErr(ns, tt.cfg)
			if !errors.Is(err, tt.kind) {
				t.Fatalf("Open(%+v) = %v, want kind %v", tt.cfg, err, tt.kind)
			}
			if err.Error() != tt.msg {
				t.Errorf("message\n got: %s\nwant: %s", err, tt.msg)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Error("message is not one line")
			}
			// A failed Open leaves no TAP behind.
			if tt.cfg.Name != "tapbusy" && tt.cfg.Name != "br0" {
				if _, lerr := ns.Netlink().LinkByName(tt.cfg.Name); lerr == nil {
					t.Errorf("%s exists after a failed Open", tt.cfg.Name)
				}
			}
		})
	}
}

func TestOpenTunErrorMessages(t *testing.T) {
	tests := []struct {
		errno syscall.Errno
		kind  error
		msg   string
	}{
		{syscall.EACCES, ErrPermission, "cannot open /dev/net/tun: permission denied (run as root or grant CAP_NET_ADMIN)"},
		{syscall.EPERM, ErrPermission, "cannot open /dev/net/tun: permission denied (run as root or grant CAP_NET_ADMIN)"},
		{syscall.ENOENT, ErrNoTunDevice, "cannot open /dev/net/tun: no such file (load the tun module: modprobe tun)"},
		{syscall.ENODEV, ErrNoTunDevice, "cannot open /dev/net/tun: the kernel has no TUN/TAP driver (load it: modprobe tun)"},
	}
	for _, tt := range tests {
		err := openTunError(tt.errno)
		if !errors.Is(err, tt.kind) || !errors.Is(err, tt.errno) || err.Error() != tt.msg {
			t.Errorf("%v: got %q (kind ok %v)", tt.errno, err, errors.Is(err, tt.kind))
		}
	}
	if err := setIffError("tap0", syscall.EPERM); !errors.Is(err, ErrPermission) ||
		err.Error() != `cannot create TAP "tap0": permission denied (run as root or grant CAP_NET_ADMIN)` {
		t.Errorf("TUNSETIFF EPERM: %q", err)
	}
}

func TestWriteFrameTooLongAndZeroAllocs(t *testing.T) {
	ns := netnstest.New(t)
	d := openIn(t, ns, Config{Name: "tap0", MTU: 1500, NoOffload: true})
	start := stack.LivePackets()
	if err := d.WriteFrame(stack.NewPacket(stack.Headroom, 1500+14+8+1)); !errors.Is(err, link.ErrFrameTooLong) {
		t.Errorf("oversized frame: %v", err)
	}
	frame := arpRequest(ourMAC, netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1"))
	defer frame.Release()
	if n := testing.AllocsPerRun(200, func() {
		if err := d.WriteFrame(frame.Ref()); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("WriteFrame: %v allocs per frame", n)
	}
	if n := stack.LivePackets(); n != start+1 {
		t.Errorf("LivePackets %d, want %d", n, start+1)
	}
}

// TestOpenKernelName lets the kernel pick the name.
func TestOpenKernelName(t *testing.T) {
	ns := netnstest.New(t)
	d := openIn(t, ns, Config{})
	if !strings.HasPrefix(d.Name(), "tap") {
		t.Errorf("name %q", d.Name())
	}
	if _, err := ns.Netlink().LinkByName(d.Name()); err != nil {
		t.Error(err)
	}
}
