package server

import (
	"bytes"
	"testing"
	"time"
)

// FormatLeases prints one line per lease with the time left, and a
// hostile hostname cannot add lines or columns.
func TestFormatLeases(t *testing.T) {
	ls := []Lease{
		{Addr: first, State: Bound, MAC: macA, Hostname: "vm1", ClientID: []byte{1, 0x52}, Expires: t0.Add(time.Hour)},
		{Addr: second, State: Offered, MAC: macB, Hostname: "evil\nname\tx", Expires: t0.Add(-time.Second)},
	}
	var b bytes.Buffer
	if err := FormatLeases(&b, ls, t0); err != nil {
		t.Fatal(err)
	}
	want := "ADDRESS    STATE    MAC                HOSTNAME     EXPIRES  CLIENT-ID\n" +
		"10.0.2.15  bound    52:54:00:00:00:0a  vm1          1h0m0s   0152\n" +
		"10.0.2.16  offered  52:54:00:00:00:0b  evil?name?x  -        -\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}
