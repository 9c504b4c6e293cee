package lacp

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/stack"
)

// frame wraps a PDU into a Slow Protocols Ethernet frame from src.
func frame(src stack.MAC, pdu func(b []byte)) []byte {
	b := make([]byte, 14+PDULen)
	copy(b[0:6], SlowProtocolsMAC[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:], EtherType)
	pdu(b[14:])
	return b
}

// oracleFrames are an LACPDU, a Marker and a Marker Response.
func oracleFrames() [][]byte {
	src := stack.MAC{2, 0, 0, 0, 0, 0xa}
	m := MarkerFields{Type: MarkerInfo, Port: 2, System: src, TransactionID: 0x01020304}
	return [][]byte{
		frame(src, sampleLACPDU().Encode),
		frame(src, m.Encode),
		frame(src, m.Response().Encode),
	}
}

// writePcap writes frames as a classic pcap file (link type Ethernet).
func writePcap(t *testing.T, frames [][]byte) string {
	t.Helper()
	var b []byte
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1)
	b = append(b, hdr...)
	for i, f := range frames {
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint32(rec[0:], uint32(i+1))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(f)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(f)))
		b = append(append(b, rec...), f...)
	}
	path := filepath.Join(t.TempDir(), "lacp.pcap")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTsharkDecodesOurPDUs: Wireshark's lacp and marker dissectors decode
// what we emit (the independent oracle), with nothing malformed, and read
// our actor key, port and state flags.
func TestTsharkDecodesOurPDUs(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skipf("needs tshark (scripts/deps.sh installs it): %v", err)
	}
	path := writePcap(t, oracleFrames())
	out, err := exec.Command(tshark, "-r", path, "-V").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	text := string(out)
	if strings.Contains(text, "Malformed") || strings.Contains(text, "malformed") {
		t.Fatalf("tshark finds a malformed PDU:\n%s", text)
	}
	for _, want := range []string{
		"Link Aggregation Control Protocol",
		"Actor Key: 9",
		"Actor Port: 1",
		"Partner Port: 2",
		"Actor State: 0x3f",
		"Partner State: 0xc5",
		"Collector Max Delay: 5",
		"Marker Protocol",
		"Requester Transaction ID: 16909060",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("tshark -V lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("tshark -V:\n%s", text)
	}
}

// TestScapyDecodesOurPDUs: scapy.contrib.lacp parses our LACPDU and
// Marker PDU into the same field values.
func TestScapyDecodesOurPDUs(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import scapy.contrib.lacp").Run(); err != nil {
		t.Skipf("needs python3-scapy (scripts/deps.sh installs it): %v", err)
	}
	path := writePcap(t, oracleFrames())
	script := `
import sys
from scapy.all import rdpcap
from scapy.contrib.lacp import LACP, MarkerProtocol
ps = rdpcap(sys.argv[1])
l = ps[0][LACP]
print("lacp", l.actor_key, l.actor_port_number, l.actor_state, l.partner_port_number, l.partner_state, l.collector_max_delay, l.actor_system)
m = ps[1][MarkerProtocol]
print("marker", m.marker_type, m.requester_port, m.requester_transaction_id, m.requester_system)
r = ps[2][MarkerProtocol]
print("response", r.marker_type)
`
	out, err := exec.Command(py, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("scapy: %v\n%s", err, out)
	}
	want := "lacp 9 1 63 2 197 5 02:00:00:00:00:0a\nmarker 1 2 16909060 02:00:00:00:00:0a\nresponse 2\n"
	if got := string(out); !strings.HasSuffix(got, want) {
		t.Fatalf("scapy read:\n%s\nwant:\n%s", got, want)
	}
}
