package stacktest

import "sync"

// record is what a fake has recorded and not yet handed to the test: a
// slice under its own lock, appended to by the fake and taken whole by
// the test.
type record[T any] struct {
	mu    sync.Mutex
	items []T
}

func (r *record[T]) add(x T) {
	r.mu.Lock()
	r.items = append(r.items, x)
	r.mu.Unlock()
}

// take returns the items, oldest first, and forgets them.
func (r *record[T]) take() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	items := r.items
	r.items = nil
	return items
}

func (r *record[T]) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.items)
}
