package tcp

import (
	"math/bits"
	"sync"
	"unsafe"
)

// slicePool pools slices of T by size class: lengths min<<k for k below
// slicePoolClasses. A connection's RACK records and its queue of segments
// to send grow by doubling during a burst and go back when it is idle
// (shedIdle); a server sending large answers to a fast client goes idle
// between them, and without pools by size each burst allocated its
// grown slices again (BenchmarkSendBurst: 7 allocs and 6.4 KB per 32
// segments before, none now).
// What sits in a pool unused is freed by the collector, as sync.Pool's is.
type slicePool[T any] struct {
	min   int
	pools [slicePoolClasses]sync.Pool
}

// slicePoolClasses is how many size classes a slicePool has: from min to
// min<<15 elements. Larger slices are allocated and dropped.
const slicePoolClasses = 16

// class returns n's size class, or -1 when n is not a pooled length.
func (p *slicePool[T]) class(n int) int {
	if n < p.min || n%p.min != 0 {
		return -1
	}
	q := uint(n / p.min)
	if q&(q-1) != 0 {
		return -1
	}
	k := bits.Len(q) - 1
	if k >= slicePoolClasses {
		return -1
	}
	return k
}

// get returns a slice of length n (a pooled length; others are
// allocated). Its elements hold whatever they held: callers overwrite
// before they read.
func (p *slicePool[T]) get(n int) []T {
	k := p.class(n)
	if k < 0 {
		return make([]T, n)
	}
	if v := p.pools[k].Get(); v != nil {
		// The pool holds a pointer to the first element, which an
		// interface holds without an allocation of its own.
		return unsafe.Slice(v.(*T), n)
	}
	return make([]T, n)
}

// put gives s's array back to its size class, or to the collector when
// its capacity is not a pooled length. s must not be used after.
func (p *slicePool[T]) put(s []T) {
	s = s[:cap(s)]
	if k := p.class(len(s)); k >= 0 {
		p.pools[k].Put(&s[0])
	}
}
