package channel_test

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/link/channel"
	"github.com/tapstack/tapstack/stack"
)

// recorder is a network protocol that records the packets of its
// EtherType.
type recorder struct {
	et  uint16
	got [][]byte
}

func (r *recorder) EtherType() uint16 { return r.et }
func (r *recorder) HandlePacket(p *stack.Packet) {
	r.got = append(r.got, append([]byte(nil), p.Bytes()...))
	p.Release()
}

// fixture is a channel as the NIC of a stack whose IPv4 and IPv6 are
// recorders.
type fixture struct {
	s      *stack.Stack
	ch     *channel.Channel
	nic    *stack.NIC
	v4, v6 *recorder
}

func newFixture(t testing.TB, cfg channel.Config) *fixture {
	t.Helper()
	start := stack.LivePackets()
	ch, err := channel.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{s: stack.New(stack.Options{}), ch: ch, v4: &recorder{et: stack.EtherTypeIPv4}, v6: &recorder{et: stack.EtherTypeIPv6}}
	f.s.RegisterNetwork(f.v4)
	f.s.RegisterNetwork(f.v6)
	if f.nic, err = f.s.AddNIC("vpn0", ch); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.s.Close()
		if n := stack.LivePackets() - start; n != 0 {
			t.Errorf("%d packets leaked", n)
		}
	})
	return f
}

// send has the stack send data out of the channel's NIC.
func (f *fixture) send(t testing.TB, data []byte) error {
	t.Helper()
	return f.nic.WritePacket(netip.MustParseAddr("10.9.0.1"), stack.IPEtherType(data), stack.NewPacketFrom(data))
}

func (f *fixture) counter(name string) uint64 { return f.s.Counters().Value(name) }

func TestNewConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg     channel.Config
		ok      bool
		wantMTU int
	}{
		{channel.Config{}, true, channel.DefaultMTU},
		{channel.Config{MTU: 1420, QueueLen: 1}, true, 1420},
		{channel.Config{MTU: 67}, false, 0},
		{channel.Config{MTU: 65536}, false, 0},
		{channel.Config{QueueLen: -1}, false, 0},
		{channel.Config{QueueLen: channel.MaxQueueLen + 1}, false, 0},
	} {
		ch, err := channel.New(tc.cfg)
		if (err == nil) != tc.ok {
			t.Errorf("New(%+v): err %v, want ok %v", tc.cfg, err, tc.ok)
			continue
		}
		if ch != nil && (ch.MTU() != tc.wantMTU || !ch.IsL3() || ch.LinkAddress() != (stack.MAC{})) {
			t.Errorf("New(%+v): MTU %d IsL3 %v MAC %v", tc.cfg, ch.MTU(), ch.IsL3(), ch.LinkAddress())
		}
	}
}

func TestWriteBeforeAttach(t *testing.T) {
	ch, _ := channel.New(channel.Config{})
	if _, err := ch.Write([][]byte{{0x45}}, 0); !errors.Is(err, channel.ErrNotAttached) {
		t.Errorf("Write before attach: %v, want ErrNotAttached", err)
	}
}

// Written packets reach the network protocol of their version nibble, in
// order, from offset on; bad ones are counted and dropped and still count
// as written.
func TestWriteDelivers(t *testing.T) {
	f := newFixture(t, channel.Config{MTU: 100})
	hdr := []byte("HDR!") // a tunnel header before each packet
	v4 := append(append([]byte(nil), hdr...), 0x45, 1, 2, 3)
	v6 := append(append([]byte(nil), hdr...), 0x60, 4, 5)
	long := append(append([]byte(nil), hdr...), make([]byte, 101)...)
	long[4] = 0x45
	bufs := [][]byte{v4, hdr, append(hdr[:4:4], 0x20), v6, long, {1, 2}, v4}
	n, err := f.ch.Write(bufs, len(hdr))
	if n != len(bufs) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(bufs))
	}
	if len(f.v4.got) != 2 || !bytes.Equal(f.v4.got[0], v4[4:]) || len(f.v6.got) != 1 || !bytes.Equal(f.v6.got[0], v6[4:]) {
		t.Errorf("delivered IPv4 %x, IPv6 %x", f.v4.got, f.v6.got)
	}
	// Not IP: the empty packet, version 2, the buffer shorter than offset.
	if got := f.counter(channel.CounterRxNotIP); got != 3 {
		t.Errorf("%s = %d, want 3", channel.CounterRxNotIP, got)
	}
	if got := f.counter(channel.CounterRxTooLong); got != 1 {
		t.Errorf("%s = %d, want 1", channel.CounterRxTooLong, got)
	}
}

// Read hands out what is queued, in order, at offset, up to the number of
// buffers, without waiting for more.
func TestReadBatches(t *testing.T) {
	f := newFixture(t, channel.Config{})
	var want [][]byte
	for i := range 5 {
		pkt := []byte{0x45, byte(i), byte(i), byte(i)}
		want = append(want, pkt)
		if err := f.send(t, pkt); err != nil {
			t.Fatal(err)
		}
	}
	if f.ch.Queued() != 5 {
		t.Fatalf("Queued = %d, want 5", f.ch.Queued())
	}
	bufs := [][]byte{make([]byte, 64), make([]byte, 64), make([]byte, 64)}
	sizes := make([]int, 3)
	var got [][]byte
	for _, wantN := range []int{3, 2} {
		n, err := f.ch.Read(bufs, sizes, 16)
		if n != wantN || err != nil {
			t.Fatalf("Read = %d, %v; want %d", n, err, wantN)
		}
		for i := range n {
			got = append(got, append([]byte(nil), bufs[i][16:16+sizes[i]]...))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("read %d packets, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("packet %d = %x, want %x", i, got[i], want[i])
		}
	}
	// Fewer sizes than buffers bound the batch too.
	f.send(t, want[0])
	f.send(t, want[1])
	if n, _ := f.ch.Read(bufs, sizes[:1], 0); n != 1 {
		t.Errorf("Read with one size = %d packets, want 1", n)
	}
}

// A packet that does not fit its buffer is not lost: the Read fails with
// io.ErrShortBuffer (or stops before it) and the next Read gets it.
func TestReadShortBuffer(t *testing.T) {
	f := newFixture(t, channel.Config{})
	small := []byte{0x45, 1}
	big := append([]byte{0x45}, make([]byte, 99)...)
	f.send(t, small)
	f.send(t, big)
	sizes := make([]int, 2)
	n, err := f.ch.Read([][]byte{make([]byte, 10), make([]byte, 10)}, sizes, 0)
	if n != 1 || err != nil || sizes[0] != 2 {
		t.Fatalf("Read = %d, %v, sizes %v; want 1 packet of 2 bytes", n, err, sizes)
	}
	if n, err := f.ch.Read([][]byte{make([]byte, 10)}, sizes, 0); n != 0 || !errors.Is(err, io.ErrShortBuffer) {
		t.Fatalf("Read into a short buffer = %d, %v; want 0, io.ErrShortBuffer", n, err)
	}
	buf := make([]byte, 100)
	if n, err := f.ch.Read([][]byte{buf}, sizes, 0); n != 1 || err != nil || !bytes.Equal(buf[:sizes[0]], big) {
		t.Fatalf("Read after a short buffer = %d, %v; want the big packet", n, err)
	}
}

// A full queue drops, counts and reports ENOBUFS, like a full transmit
// ring; a packet over the MTU is refused with EMSGSIZE.
func TestQueueFullAndTooBig(t *testing.T) {
	f := newFixture(t, channel.Config{MTU: 100, QueueLen: 2})
	pkt := []byte{0x45, 0, 0, 0}
	for i := range 3 {
		err := f.send(t, pkt)
		if i < 2 && err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if i == 2 && !errors.Is(err, syscall.ENOBUFS) {
			t.Fatalf("send to a full queue: %v, want ENOBUFS", err)
		}
	}
	if got := f.counter(channel.CounterTxQueueFull); got != 1 {
		t.Errorf("%s = %d, want 1", channel.CounterTxQueueFull, got)
	}
	if err := f.send(t, append([]byte{0x45}, make([]byte, 100)...)); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("send over the MTU: %v, want EMSGSIZE", err)
	}
	if got := f.counter(channel.CounterTxTooBig); got != 1 {
		t.Errorf("%s = %d, want 1", channel.CounterTxTooBig, got)
	}
}

// Close wakes a blocked Read, releases the queued packets (the fixture
// checks for leaks) and makes every later call fail.
func TestCloseUnblocksRead(t *testing.T) {
	f := newFixture(t, channel.Config{})
	// The reader takes one packet, then blocks in a second Read (most
	// likely by the time Close runs; either way it must end ErrClosed).
	f.send(t, []byte{0x45, 0})
	done, first := make(chan error), make(chan struct{})
	go func() {
		bufs, sizes := [][]byte{make([]byte, 100)}, make([]int, 1)
		f.ch.Read(bufs, sizes, 0)
		close(first)
		_, err := f.ch.Read(bufs, sizes, 0)
		done <- err
	}()
	<-first
	if err := f.ch.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, channel.ErrClosed) {
		t.Errorf("blocked Read after Close: %v, want ErrClosed", err)
	}
	if err := f.send(t, []byte{0x45}); !errors.Is(err, stack.ErrClosed) {
		t.Errorf("stack send after Close: %v, want ErrClosed", err)
	}
	if _, err := f.ch.Write([][]byte{{0x45}}, 0); !errors.Is(err, channel.ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	if _, err := f.ch.Read([][]byte{make([]byte, 10)}, make([]int, 1), 0); !errors.Is(err, channel.ErrClosed) {
		t.Errorf("Read after Close: %v, want ErrClosed", err)
	}
	if err := f.ch.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseReleasesQueued(t *testing.T) {
	f := newFixture(t, channel.Config{})
	for range 10 {
		f.send(t, []byte{0x45, 0})
	}
	f.send(t, make([]byte, 50))
	f.ch.Read([][]byte{make([]byte, 1)}, make([]int, 1), 0) // leaves one pending
	f.ch.Close()
	// The fixture's cleanup fails the test if any packet is left.
}
