package stack

import "testing"

// FuzzParseMAC: ParseMAC never panics, and what it accepts formats back to
// a string that parses to the same address.
func FuzzParseMAC(f *testing.F) {
	for _, s := range []string{"02:00:5e:10:00:01", "02-00-5E-10-00-01", "0200.5e10.0001", "ff:ff:ff:ff:ff:ff", "", "02:00", "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMAC(s)
		if err != nil {
			if m != (MAC{}) {
				t.Fatalf("ParseMAC(%q) failed but returned %v", s, m)
			}
			return
		}
		back, err := ParseMAC(m.String())
		if err != nil || back != m {
			t.Fatalf("ParseMAC(%q) = %v; reparse of %q = %v, %v", s, m, m.String(), back, err)
		}
	})
}
