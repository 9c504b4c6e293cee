package stack

import (
	"sort"
	"sync"
	"sync/atomic"
)

// Counter is one named event count (a drop reason, a decision). Increment it
// with Inc or Add; it costs one atomic add and never allocates.
type Counter struct {
	n atomic.Uint64
}

// Inc adds one.
func (c *Counter) Inc() { c.n.Add(1) }

// Add adds d.
func (c *Counter) Add(d uint64) { c.n.Add(d) }

// Load returns the current value.
func (c *Counter) Load() uint64 { return c.n.Load() }

// Counters is a stack's registry of named counters, one place per layer, so
// the status page, tests and traces read the same facts.
type Counters struct {
	mu sync.Mutex
	m  map[string]*Counter
}

// Get returns the counter with the given name ("ipv4.rx.bad_checksum"),
// creating it at zero the first time. Layers call it once at setup and keep
// the pointer.
func (cs *Counters) Get(name string) *Counter {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.m == nil {
		cs.m = make(map[string]*Counter)
	}
	c, ok := cs.m[name]
	if !ok {
		c = new(Counter)
		cs.m[name] = c
	}
	return c
}

// Value returns the named counter's value, zero if it does not exist.
func (cs *Counters) Value(name string) uint64 {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c, ok := cs.m[name]; ok {
		return c.Load()
	}
	return 0
}

// CounterValue is one entry of a Counters snapshot.
type CounterValue struct {
	Name  string
	Value uint64
}

// Snapshot returns every counter, sorted by name.
func (cs *Counters) Snapshot() []CounterValue {
	cs.mu.Lock()
	out := make([]CounterValue, 0, len(cs.m))
	for n, c := range cs.m {
		out = append(out, CounterValue{n, c.Load()})
	}
	cs.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
