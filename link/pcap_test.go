package link

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// pcapReader reads the libpcap format as the spec describes it; it is
// written independently of Capture (pcapgo would need golang.org/x/net,
// which the module does not carry; tcpdump checks the file as a whole).
type pcapReader struct {
	b                 []byte
	snapLen, linkType uint32
}

type pcapRecord struct {
	ts         time.Time
	data       []byte
	origLength int
}

func newPcapReader(t *testing.T, b []byte) *pcapReader {
	t.Helper()
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 ||
		binary.LittleEndian.Uint16(b[4:]) != 2 || binary.LittleEndian.Uint16(b[6:]) != 4 {
		t.Fatalf("bad pcap file header % x", b[:min(24, len(b))])
	}
	return &pcapReader{b: b[24:], snapLen: binary.LittleEndian.Uint32(b[16:]), linkType: binary.LittleEndian.Uint32(b[20:])}
}

func (r *pcapReader) next() (pcapRecord, error) {
	if len(r.b) == 0 {
		return pcapRecord{}, io.EOF
	}
	if len(r.b) < 16 {
		return pcapRecord{}, io.ErrUnexpectedEOF
	}
	sec, usec := binary.LittleEndian.Uint32(r.b), binary.LittleEndian.Uint32(r.b[4:])
	incl, orig := binary.LittleEndian.Uint32(r.b[8:]), binary.LittleEndian.Uint32(r.b[12:])
	if usec >= 1e6 || incl > orig || incl > r.snapLen || int(incl) > len(r.b)-16 {
		return pcapRecord{}, fmt.Errorf("bad record header % x", r.b[:16])
	}
	rec := pcapRecord{time.Unix(int64(sec), int64(usec)*1000), r.b[16 : 16+incl], int(orig)}
	r.b = r.b[16+incl:]
	return rec, nil
}

// TestCaptureBothDirections captures over a Pipe and decodes the file with
// gopacket's pcapgo reader.
func TestCaptureBothDirections(t *testing.T) {
	start := stack.LivePackets()
	a, b := Pipe(1500)
	var buf bytes.Buffer
	clock := time.Date(2025, 1, 2, 3, 4, 5, 678_901_000, time.UTC)
	tick := func() time.Time { clock = clock.Add(time.Millisecond); return clock }
	ca, err := NewCapture(a, &buf, WithClock(tick))
	if err != nil {
		t.Fatal(err)
	}
	inA, inB := make(chanSink, 1), make(chanSink, 1)
	ca.Attach(inA)
	b.Attach(inB)

	out := frame(macB, macA, 0x88b5, 100)
	sent := append([]byte(nil), out.Bytes()...)
	if err := ca.WriteFrame(out); err != nil {
		t.Fatal(err)
	}
	recv(t, inB).Release()
	back := frame(macA, macB, stack.EtherTypeARP, 28)
	received := append([]byte(nil), back.Bytes()...)
	if err := b.WriteFrame(back); err != nil {
		t.Fatal(err)
	}
	recv(t, inA).Release()
	ca.Close()
	b.Close()
	checkLive(t, start)
	if err := ca.(*Capture).Err(); err != nil {
		t.Fatal(err)
	}

	file := append([]byte(nil), buf.Bytes()...)
	r := newPcapReader(t, buf.Bytes())
	if r.linkType != 1 || r.snapLen != DefaultSnapLen {
		t.Errorf("link type %d snaplen %d", r.linkType, r.snapLen)
	}
	for i, want := range [][]byte{sent, received} {
		rec, err := r.next()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !bytes.Equal(rec.data, want) || rec.origLength != len(want) {
			t.Errorf("record %d: % x (orig len %d), want % x", i, rec.data, rec.origLength, want)
		}
		wantTS := time.Date(2025, 1, 2, 3, 4, 5, 678_901_000, time.UTC).Add(time.Duration(i+1) * time.Millisecond)
		if !rec.ts.Equal(wantTS) {
			t.Errorf("record %d: timestamp %v, want %v", i, rec.ts.UTC(), wantTS)
		}
	}
	if _, err := r.next(); err != io.EOF {
		t.Errorf("after two records: %v, want EOF", err)
	}

	// tcpdump, if installed, is an independent reader of the whole file.
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Log("tcpdump not installed; skipping the tcpdump check")
		return
	}
	name := t.TempDir() + "/c.pcap"
	if err := os.WriteFile(name, file, 0o644); err != nil {
		t.Fatal(err)
	}
	td, err := exec.Command("tcpdump", "-r", name, "-nn", "-e", "-tt").CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump: %v\n%s", err, td)
	}
	lines := strings.Split(strings.TrimSpace(string(td)), "\n")
	var recs []string
	for _, l := range lines {
		if strings.HasPrefix(l, "17") { // a record line starts with its timestamp
			recs = append(recs, l)
		}
	}
	if len(recs) != 2 ||
		!strings.HasPrefix(recs[0], "1735787045.679901 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype Unknown (0x88b5), length 114") ||
		!strings.HasPrefix(recs[1], "1735787045.680901 02:00:00:00:00:0b > 02:00:00:00:00:0a, ethertype ARP (0x0806), length 42") {
		t.Errorf("tcpdump read:\n%s", td)
	}
}

func TestCaptureSnapLenAndErrors(t *testing.T) {
	start := stack.LivePackets()
	var buf bytes.Buffer
	dev := &frameDev{mtu: 1500}
	c, err := NewCapture(dev, &buf, WithSnapLen(20))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFrame(frame(macB, macA, 0x88b5, 100)); err != nil {
		t.Fatal(err)
	}
	rec, err := newPcapReader(t, buf.Bytes()).next()
	if err != nil || len(rec.data) != 20 || rec.origLength != 114 {
		t.Errorf("snapped record: %d bytes of %d, %v", len(rec.data), rec.origLength, err)
	}
	dev.release()

	if _, err := NewCapture(dev, failWriter{}); err == nil {
		t.Error("NewCapture on a failing writer succeeded")
	}
	if _, err := NewCapture(dev, &buf, WithSnapLen(0)); err == nil {
		t.Error("snap length 0 accepted")
	}
	// A writer failing later stops the capture, not the traffic.
	fw := &limitWriter{n: 24}
	c, err = NewCapture(dev, fw)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFrame(frame(macB, macA, 0x88b5, 10)); err != nil {
		t.Fatal(err)
	}
	if len(dev.written) != 1 || c.(*Capture).Err() == nil {
		t.Errorf("written %d, Err %v", len(dev.written), c.(*Capture).Err())
	}
	dev.release()
	checkLive(t, start)
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

type limitWriter struct{ n int }

func (w *limitWriter) Write(b []byte) (int, error) {
	if len(b) > w.n {
		return 0, errors.New("disk full")
	}
	w.n -= len(b)
	return len(b), nil
}

func TestCaptureZeroAllocs(t *testing.T) {
	dev := &frameDev{mtu: 1500, written: make([]*stack.Packet, 0, 1)}
	c, err := NewCapture(dev, io.Discard, WithClock(func() time.Time { return time.Unix(1, 0) }))
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(500, func() {
		_ = c.WriteFrame(stack.NewPacket(stack.Headroom, 100))
		dev.release()
	}); n != 0 {
		t.Errorf("capture WriteFrame: %v allocs per frame", n)
	}
}
