package main

import (
	"container/list"
	"net"
	"net/http"
	"sync"

	"github.com/tapstack/tapstack/stack"
)

// Making room at the :80 cap. A connection that is still reading its
// request header costs the attacker nothing to hold: 300 connections that
// each send one endless header line, or that connect and say nothing,
// kept the 256 places of --max-conns for their ReadHeaderTimeout, and
// legitimate curls were reset at accept (issue 13). When :80 is at its
// cap, the listener therefore closes the connection that has waited
// longest for its request header (net/http's StateNew or StateIdle: no
// request being served) and takes the new one, as nginx reuses its
// keep-alive connections when it runs out. A connection serving a request
// is never evicted; when every place serves one, the new connection is
// refused as before.

// headerWaiters tracks a server's connections that are waiting for a
// request header, oldest first.
type headerWaiters struct {
	mu      sync.Mutex
	order   list.List // of net.Conn
	elems   map[net.Conn]*list.Element
	evicted *stack.Counter
}

// newHeaderWaiters returns an empty tracker counting its evictions in
// svc.NAME.evicted.
func newHeaderWaiters(name string, cs *stack.Counters) *headerWaiters {
	return &headerWaiters{elems: make(map[net.Conn]*list.Element), evicted: cs.Get("svc." + name + ".evicted")}
}

// connState is the http.Server's ConnState hook.
func (w *headerWaiters) connState(c net.Conn, s http.ConnState) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.elems[c]
	switch {
	case s == http.StateNew || s == http.StateIdle:
		if !ok {
			w.elems[c] = w.order.PushBack(c)
		}
	case ok:
		w.order.Remove(e)
		delete(w.elems, c)
	}
}

// evictOldest closes the connection that has waited longest for its
// request header. It reports whether there was one.
func (w *headerWaiters) evictOldest() bool {
	w.mu.Lock()
	e := w.order.Front()
	if e == nil {
		w.mu.Unlock()
		return false
	}
	c := w.order.Remove(e).(net.Conn)
	delete(w.elems, c)
	w.mu.Unlock()
	c.Close()
	w.evicted.Inc()
	return true
}
