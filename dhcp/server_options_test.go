package dhcp

import (
	"testing"

	"github.com/tapstack/tapstack/stack"
)

// RFC 2132 9.14 / RFC 2131 4.2: a lease is filed under the client
// identifier, else under the hardware address, and a MAC-only client's key
// equals that of a type-1 identifier with the same MAC.
func TestClientKey(t *testing.T) {
	mac := stack.MAC{0x52, 0x54, 0, 1, 2, 3}
	for _, tc := range []struct {
		name string
		f    Fields
		want string
	}{
		{"no identifier: type 1 and chaddr", Fields{CHAddr: mac}, "\x01\x52\x54\x00\x01\x02\x03"},
		{"type-1 identifier of the same MAC: same key", Fields{CHAddr: stack.MAC{9}, ClientID: []byte{1, 0x52, 0x54, 0, 1, 2, 3}}, "\x01\x52\x54\x00\x01\x02\x03"},
		{"DUID identifier", Fields{CHAddr: mac, ClientID: []byte{0xff, 1, 2}}, "\xff\x01\x02"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := Message(tc.f.Marshal())
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := m.ClientKey(); got != tc.want {
				t.Fatalf("key %x, want %x", got, tc.want)
			}
		})
	}
}
