package stack

import (
	"sort"
	"sync"
	"sync/atomic"
)

// Counter is one named event count (a drop reason, a decision). Increment it
// with Inc or Add; it costs one atomic add and, for a counter of a stack's
// registry, one atomic load of the stack's tracer; it never allocates. With
// a tracer set, every increment is a TraceCount event carrying the name.
type Counter struct {
	n    atomic.Uint64
	name string
	hub  *atomic.Pointer[tracerSlot]
}

// Inc adds one.
func (c *Counter) Inc() {
	c.n.Add(1)
	c.trace()
}

// Add adds d.
func (c *Counter) Add(d uint64) {
	c.n.Add(d)
	if d != 0 {
		c.trace()
	}
}

// trace reports the increment to the stack's tracer, if any.
func (c *Counter) trace() {
	if c.hub == nil {
		return
	}
	if p := c.hub.Load(); p != nil {
		c.traceSlow(p.t)
	}
}

func (c *Counter) traceSlow(t Tracer) {
	ev := TraceEvent{Kind: TraceCount, Layer: layerOf(c.name), Name: c.name}
	t.Trace(&ev)
}

// layerOf is the first part of a counter name ("tcp" of "tcp.rx.x").
func layerOf(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] == '.' {
			return name[:i]
		}
	}
	return name
}

// Name returns the counter's name in its registry ("" for a counter made
// on its own).
func (c *Counter) Name() string { return c.name }

// Load returns the current value.
func (c *Counter) Load() uint64 { return c.n.Load() }

// Counters is a stack's registry of named counters, one place per layer, so
// the status page, tests and traces read the same facts.
type Counters struct {
	mu  sync.Mutex
	m   map[string]*Counter
	hub *atomic.Pointer[tracerSlot] // the owning stack's tracer
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
		c = &Counter{name: name, hub: cs.hub}
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
