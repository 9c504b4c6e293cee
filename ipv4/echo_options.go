package ipv4

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// echoOptions writes into dst the IP options of the echo reply to a
// request whose validated option list is req, and returns their length (a
// multiple of 4, at most 40; 0 when there is nothing to reflect).
//
// RFC 1122 3.2.2.6: a Record Route or Timestamp option received in an
// echo request SHOULD be updated to include the current host and included
// in the reply, without truncation. Record route gets self (the reply's
// source address) when it has room for it; timestamp gets the time (and,
// with flag 1, self; with flag 3, only when the next prespecified address
// is one of ours: self, or any address local reports as ours, as Linux
// checks) when it has room, and otherwise its overflow count is raised
// (RFC 791). Other options are not reflected, like Linux's
// ip_options_echo, which reflects only these two, a source route (which
// tapstack does not honour) and CIPSO. Unlike Linux, which records itself
// once on receipt and again on sending, we record ourselves once: the RFC
// asks for the current host to be included, not twice.
func echoOptions(dst *[MaxHeaderLen - HeaderLen]byte, req []byte, self netip.Addr, now time.Time, local localAddresses) int {
	n := 0
	for i := 0; i < len(req); {
		t := req[i]
		switch t {
		case OptionEOL:
			i = len(req)
			continue
		case OptionNOP:
			i++
			continue
		}
		if i+1 >= len(req) || req[i+1] < 2 || i+int(req[i+1]) > len(req) {
			break // not a validated list: stop here
		}
		l := int(req[i+1])
		if (t == OptionRecordRoute || t == OptionTimestamp) && n+l <= len(dst) {
			o := dst[n : n+l]
			copy(o, req[i:i+l])
			if t == OptionRecordRoute {
				recordRoute(o, self)
			} else {
				recordTimestamp(o, self, now, local)
			}
			n += l
		}
		i += l
	}
	for n%4 != 0 {
		dst[n] = OptionEOL
		n++
	}
	return n
}

// localAddresses says which addresses are ours (a *stack.Stack does).
type localAddresses interface{ IsLocalAddress(netip.Addr) bool }

// recordRoute adds a to a record route option o (type, length, pointer,
// route data) when the data area has room for it, and advances the
// pointer (RFC 791: a full option is left as it is).
func recordRoute(o []byte, a netip.Addr) {
	if len(o) < 3 {
		return
	}
	ptr := int(o[2])
	if ptr < 4 || ptr+3 > len(o) {
		return
	}
	b := a.As4()
	copy(o[ptr-1:ptr+3], b[:])
	o[2] = byte(ptr + 4)
}

// recordTimestamp updates an internet timestamp option o (type, length,
// pointer, overflow and flag, data) for host a at now (RFC 791): flag 0
// records the time, 1 the address and the time, 3 the time when the next
// prespecified address is a or another of local's. A full option has its
// overflow count raised (up to its 4-bit maximum).
func recordTimestamp(o []byte, a netip.Addr, now time.Time, local localAddresses) {
	if len(o) < 4 {
		return
	}
	ptr, flag := int(o[2]), o[3]&0x0f
	size := 8
	if flag == 0 {
		size = 4
	}
	if ptr < 5 || ptr+size-1 > len(o) {
		if o[3]>>4 < 0x0f {
			o[3] += 0x10
		}
		return
	}
	b := a.As4()
	ts := icmpTimestamp(now)
	switch flag {
	case 0:
		binary.BigEndian.PutUint32(o[ptr-1:], ts)
	case 1:
		copy(o[ptr-1:ptr+3], b[:])
		binary.BigEndian.PutUint32(o[ptr+3:], ts)
	case 3:
		if p := [4]byte(o[ptr-1 : ptr+3]); p != b && (local == nil || !local.IsLocalAddress(netip.AddrFrom4(p))) {
			return // another host's turn
		}
		binary.BigEndian.PutUint32(o[ptr+3:], ts)
	default:
		return
	}
	o[2] = byte(ptr + size)
}

// icmpTimestamp is the RFC 791 / RFC 792 time of day: milliseconds since
// midnight UT.
func icmpTimestamp(now time.Time) uint32 {
	const day = 24 * 60 * 60 * 1000
	ms := now.UnixMilli() % day
	if ms < 0 {
		ms += day
	}
	return uint32(ms)
}
