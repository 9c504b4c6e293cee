package ipv4

import (
	"bytes"
	"testing"
)

func TestValidateOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []byte
		bad  int
	}{
		{"empty", nil, -1},
		{"NOPs", []byte{1, 1, 1, 1}, -1},
		{"EOL, then anything", []byte{0, 0xff, 0, 9}, -1},
		{"record route", []byte{7, 7, 4, 0, 0, 0, 0, 0}, -1},
		{"record route, full", []byte{7, 7, 8, 1, 2, 3, 4, 0}, -1},
		{"timestamp, flag 1", []byte{68, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0}, -1},
		{"timestamp, flag 3", []byte{68, 4, 5, 3}, -1},
		{"router alert", []byte{148, 4, 0, 0}, -1},
		{"loose source route", []byte{131, 7, 4, 10, 0, 0, 1, 0}, -1},
		{"unknown option", []byte{0x9e, 2, 1, 0}, -1},
		{"type alone at the end", []byte{1, 1, 1, 7}, 3},
		{"length 0", []byte{0x9e, 0, 0, 0}, 1},
		{"length 1", []byte{1, 0x9e, 1, 0}, 2},
		{"length past the end", []byte{7, 9, 4, 0}, 1},
		{"record route too short", []byte{7, 2, 0, 0}, 1},
		{"record route pointer 3", []byte{7, 3, 3, 0}, 2},
		{"timestamp too short", []byte{68, 3, 5, 0}, 1},
		{"timestamp pointer 4", []byte{68, 4, 4, 0}, 2},
		{"timestamp flag 2", []byte{68, 4, 5, 2}, 3},
		{"router alert length 6", []byte{148, 6, 0, 0, 0, 0, 0, 0}, 1},
		{"two source routes", []byte{131, 3, 4, 137, 3, 4, 0, 0}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidateOptions(tc.opts); got != tc.bad {
				t.Errorf("ValidateOptions(% x) = %d, want %d", tc.opts, got, tc.bad)
			}
		})
	}
}

func TestOptionsInbound(t *testing.T) {
	tests := []struct {
		name    string
		opts    []byte
		pointer int // -1: valid, delivered with the options ignored
	}{
		{"timestamp", []byte{68, 8, 5, 0, 0, 0, 0, 0}, -1},
		{"record route", []byte{7, 3, 4, 0}, -1},
		{"router alert", []byte{148, 4, 0, 0}, -1},
		{"bad length", []byte{0x94, 5, 0, 0}, 21},
		{"length 0 after a NOP", []byte{1, 0x44, 0, 0}, 22},
		{"bad record route pointer", []byte{1, 1, 7, 3, 1, 0, 0, 0}, 24},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			in := ipPacket(Fields{Protocol: 17, Src: peerAddr, Dst: ourAddr, Options: tc.opts}, udpish("opts"))
			e.inject(in, ourMAC)
			got := e.udp.TakePackets()
			if tc.pointer < 0 {
				if len(got) != 1 || !bytes.Equal(got[0].Data, udpish("opts")) {
					t.Errorf("not delivered")
				}
				return
			}
			if len(got) != 0 {
				t.Errorf("delivered a packet with bad options")
			}
			checkICMPError(t, oneFrame(t, e.link).Data, ourAddr, ICMPParamProblem, 0, PointerRest(uint8(tc.pointer)), in)
			if e.count("ipv4.rx.bad_options") != 1 {
				t.Errorf("ipv4.rx.bad_options = %d", e.count("ipv4.rx.bad_options"))
			}
		})
	}
	// A forwarded packet with bad options is not forwarded.
	e := newRouter(t, Options{}, 1500)
	e.inject(ipPacket(Fields{Protocol: 17, Src: peerAddr, Dst: farAddr, Options: []byte{68, 4, 4, 0}}, udpish("x")), ourMAC)
	if len(e.link1.Take()) != 0 || len(e.link.Take()) != 1 {
		t.Errorf("bad options forwarded, or no parameter problem")
	}
}

func FuzzValidateOptions(f *testing.F) {
	f.Add([]byte{7, 7, 4, 0, 0, 0, 0, 0})
	f.Add([]byte{68, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 131, 3, 4, 0x82, 4, 0, 0})
	f.Fuzz(func(t *testing.T, opts []byte) {
		if len(opts) > 40 {
			opts = opts[:40]
		}
		bad := ValidateOptions(opts)
		if bad >= len(opts) || bad < -1 {
			t.Fatalf("pointer %d outside % x", bad, opts)
		}
		hasSourceRoute(opts)
		c := append([]byte(nil), opts...)
		clearUncopiedOptions(c)
		if bad < 0 {
			// Clearing keeps a valid list valid and its length.
			if ValidateOptions(c) >= 0 || len(c) != len(opts) {
				t.Fatalf("cleared % x to invalid % x", opts, c)
			}
		}
	})
}
