package seqnum

import "testing"

func TestCompare(t *testing.T) {
	tests := []struct {
		v, w           Value
		lt, le, gt, ge bool
	}{
		{1, 2, true, true, false, false},
		{2, 2, false, true, false, true},
		{3, 2, false, false, true, true},
		{0xffffffff, 0, true, true, false, false}, // wraps
		{0, 0xffffffff, false, false, true, true},
		{0x7fffffff, 0, false, false, true, true},
		{0xfffffff0, 0x10, true, true, false, false},
	}
	for _, tt := range tests {
		if got := tt.v.LessThan(tt.w); got != tt.lt {
			t.Errorf("%d.LessThan(%d) = %v", tt.v, tt.w, got)
		}
		if got := tt.v.LessThanEq(tt.w); got != tt.le {
			t.Errorf("%d.LessThanEq(%d) = %v", tt.v, tt.w, got)
		}
		if got := tt.v.GreaterThan(tt.w); got != tt.gt {
			t.Errorf("%d.GreaterThan(%d) = %v", tt.v, tt.w, got)
		}
		if got := tt.v.GreaterThanEq(tt.w); got != tt.ge {
			t.Errorf("%d.GreaterThanEq(%d) = %v", tt.v, tt.w, got)
		}
	}
}

func TestInRange(t *testing.T) {
	tests := []struct {
		v, a, b Value
		want    bool
	}{
		{5, 5, 10, true},
		{9, 5, 10, true},
		{10, 5, 10, false},
		{4, 5, 10, false},
		{5, 5, 5, false},
		{0, 0xfffffff0, 0x10, true},
		{0xfffffff0, 0xfffffff0, 0x10, true},
		{0x10, 0xfffffff0, 0x10, false},
	}
	for _, tt := range tests {
		if got := tt.v.InRange(tt.a, tt.b); got != tt.want {
			t.Errorf("%d.InRange(%d, %d) = %v, want %v", tt.v, tt.a, tt.b, got, tt.want)
		}
	}
	if !Value(0xffffffff).InWindow(0xfffffffe, 4) || Value(2).InWindow(0xfffffffe, 4) {
		t.Error("InWindow across wrap is wrong")
	}
	if Value(0xfffffffe).Size(2) != 4 || Value(0xfffffffe).Add(4) != 2 || Value(2).Sub(4) != 0xfffffffe {
		t.Error("Size/Add/Sub across wrap are wrong")
	}
	if Max(0xffffffff, 1) != 1 || Min(0xffffffff, 1) != 0xffffffff {
		t.Error("Max/Min across wrap are wrong")
	}
}
