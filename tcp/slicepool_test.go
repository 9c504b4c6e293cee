package tcp

import "testing"

func TestSlicePoolClasses(t *testing.T) {
	p := &slicePool[rackSeg]{min: 8}
	for _, tc := range []struct {
		n, class int
	}{
		{0, -1}, {4, -1}, {8, 0}, {12, -1}, {16, 1}, {24, -1}, {64, 3},
		{8 << 15, 15}, {8 << 16, -1}, // past the last class: allocated, not pooled
	} {
		if got := p.class(tc.n); got != tc.class {
			t.Errorf("class(%d) = %d, want %d", tc.n, got, tc.class)
		}
	}
}

// TestSlicePoolReuse checks that a slice given back serves the next get
// of its length without an allocation (testing.AllocsPerRun runs on one
// P, whose pool the put fills; the race detector's sync.Pool drops a
// quarter of what it is given), that the capacity decides the class, and
// that lengths outside the classes are still served.
func TestSlicePoolReuse(t *testing.T) {
	p := &slicePool[outSeg]{min: 4}
	if !raceEnabled {
		if n := testing.AllocsPerRun(100, func() {
			s := p.get(16)
			p.put(s[:5]) // the capacity decides the class, not the length
		}); n != 0 {
			t.Errorf("get and put of a pooled length: %v allocs, want 0", n)
		}
	}
	if s := p.get(16); len(s) != 16 {
		t.Fatalf("get(16) has length %d", len(s))
	}
	if len(p.get(12)) != 12 || len(p.get(4<<16)) != 4<<16 {
		t.Error("lengths outside the classes are not served")
	}
	p.put(make([]outSeg, 12)) // dropped, not pooled
	if len(p.get(8)) != 8 {
		t.Error("get(8)")
	}
}
