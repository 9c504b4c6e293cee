package lacp

import (
	"testing"

	"github.com/tapstack/tapstack/stack"
)

func sampleLACPDU() LACPDUFields {
	return LACPDUFields{
		Actor: Info{SystemPriority: 65535, System: stack.MAC{2, 0, 0, 0, 0, 0xa}, Key: 9, PortPriority: 255, Port: 1,
			State: StateActivity | StateTimeout | StateAggregation | StateSync | StateCollecting | StateDistributing},
		Partner: Info{SystemPriority: 65535, System: stack.MAC{2, 0, 0, 0, 0, 0xb}, Key: 9, PortPriority: 255, Port: 2,
			State: StateActivity | StateAggregation | StateDefaulted | StateExpired},
		CollectorMaxDelay: 5,
	}
}

// TestLACPDURoundTrip (802.1AX-2014 6.4.2.3): what Encode writes,
// Validate accepts and the accessors read back; reserved octets are zero.
func TestLACPDURoundTrip(t *testing.T) {
	f := sampleLACPDU()
	b := make([]byte, PDULen)
	for i := range b {
		b[i] = 0xee
	}
	f.Encode(b)
	p := LACPDU(b)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := p.Fields(); got != f {
		t.Fatalf("round trip: got %+v, want %+v", got, f)
	}
	for _, i := range []int{19, 20, 21, 39, 40, 41, 46, 57, 60, 109} {
		if b[i] != 0 {
			t.Errorf("reserved octet %d is %#x", i, b[i])
		}
	}
}

// TestLACPDUValidate: the checks of 802.1AX-2014 6.4.2.3 (subtype,
// version, the TLVs in their places) refuse malformed PDUs; a later
// version is still parsed.
func TestLACPDUValidate(t *testing.T) {
	good := make([]byte, PDULen)
	sampleLACPDU().Encode(good)
	cases := []struct {
		name string
		edit func(b []byte) []byte
		want error
	}{
		{"valid", func(b []byte) []byte { return b }, nil},
		{"later version parsed as 1", func(b []byte) []byte { b[1] = 2; return b }, nil},
		{"short", func(b []byte) []byte { return b[:PDULen-1] }, ErrTooShort},
		{"marker subtype", func(b []byte) []byte { b[0] = SubtypeMarker; return b }, ErrSubtype},
		{"version 0", func(b []byte) []byte { b[1] = 0; return b }, ErrVersion},
		{"actor TLV length", func(b []byte) []byte { b[3] = 19; return b }, ErrTLV},
		{"partner TLV type", func(b []byte) []byte { b[22] = 1; return b }, ErrTLV},
		{"collector TLV length", func(b []byte) []byte { b[43] = 0; return b }, ErrTLV},
		{"no terminator", func(b []byte) []byte { b[58] = 9; return b }, ErrTLV},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := append([]byte(nil), good...)
			if err := LACPDU(c.edit(b)).Validate(); err != c.want {
				t.Fatalf("Validate = %v, want %v", err, c.want)
			}
		})
	}
}

// TestMarkerRoundTrip (802.1AX-2014 6.5.3): a Marker PDU round-trips and
// its response echoes port, system and transaction ID with TLV type 2.
func TestMarkerRoundTrip(t *testing.T) {
	f := MarkerFields{Type: MarkerInfo, Port: 3, System: stack.MAC{2, 0, 0, 0, 0, 1}, TransactionID: 0xdeadbeef}
	b := make([]byte, PDULen)
	f.Encode(b)
	if err := MarkerPDU(b).Validate(); err != nil {
		t.Fatal(err)
	}
	if got := MarkerPDU(b).Fields(); got != f {
		t.Fatalf("got %+v want %+v", got, f)
	}
	r := f.Response()
	if r.Type != MarkerResponse || r.Port != f.Port || r.System != f.System || r.TransactionID != f.TransactionID {
		t.Fatalf("response %+v", r)
	}
	b[2] = 7
	if MarkerPDU(b).Validate() != ErrMarkerType {
		t.Fatal("unknown marker TLV type accepted")
	}
}

// FuzzLACPDU: no input panics the parsers, and a PDU that validates
// re-encodes to the same fields.
func FuzzLACPDU(f *testing.F) {
	b := make([]byte, PDULen)
	sampleLACPDU().Encode(b)
	f.Add(b)
	m := make([]byte, PDULen)
	MarkerFields{Type: MarkerInfo, Port: 1, TransactionID: 7}.Encode(m)
	f.Add(m)
	f.Add([]byte{1, 1, 1, 20})
	f.Fuzz(func(t *testing.T, b []byte) {
		if p := LACPDU(b); p.Validate() == nil {
			fs := p.Fields()
			out := make([]byte, PDULen)
			fs.Encode(out)
			if LACPDU(out).Validate() != nil || LACPDU(out).Fields() != fs {
				t.Fatalf("re-encoded LACPDU differs")
			}
		}
		if p := MarkerPDU(b); p.Validate() == nil {
			fs := p.Fields()
			out := make([]byte, PDULen)
			fs.Encode(out)
			if MarkerPDU(out).Fields() != fs {
				t.Fatalf("re-encoded marker differs")
			}
		}
	})
}
