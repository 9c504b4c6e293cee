package dhcp

import (
	"net/netip"
	"strings"
)

// Progress is one step of the client's exchanges, reported to
// Options.OnProgress: a message it sent, or a reply it accepted (replies
// it ignores are only counted, dhcp.rx.*). It lets a program say what the
// client is doing while it waits for a lease.
type Progress struct {
	// Type is the message's type: DISCOVER, REQUEST, DECLINE, RELEASE
	// sent; OFFER, ACK, NAK received.
	Type MessageType
	// Sent is true for a message the client sent, false for a reply.
	Sent bool
	// Addr is the address the message is about: the one offered or
	// acknowledged (yiaddr), requested (option 50) or given back
	// (ciaddr); invalid when none.
	Addr netip.Addr
	// Server is the server it is from or for (option 54); invalid when
	// none (a DISCOVER).
	Server netip.Addr
}

// String is the step as one short line: "DISCOVER sent",
// "OFFER 10.0.0.50 from 10.0.0.1", "REQUEST 10.0.0.50 sent to 10.0.0.1".
func (p Progress) String() string {
	s := strings.TrimPrefix(p.Type.String(), "DHCP")
	if p.Addr.IsValid() && !p.Addr.IsUnspecified() {
		s += " " + p.Addr.String()
	}
	switch {
	case p.Sent && p.Server.IsValid():
		return s + " sent to " + p.Server.String()
	case p.Sent:
		return s + " sent"
	case p.Server.IsValid():
		return s + " from " + p.Server.String()
	}
	return s
}

// progressSent is the Progress of a message the client sent.
func progressSent(f *Fields) Progress {
	p := Progress{Type: f.MessageType, Sent: true, Addr: f.RequestedIP, Server: f.ServerID}
	if !p.Addr.IsValid() || p.Addr.IsUnspecified() {
		p.Addr = f.CIAddr
	}
	return p
}

// progressReceived is the Progress of a reply the client accepted.
func progressReceived(m Message) Progress {
	f := m.Fields()
	return Progress{Type: f.MessageType, Addr: f.YIAddr, Server: f.ServerID}
}

// progress reports p to Options.OnProgress.
func (c *Client) progress(p Progress) {
	if c.opts.OnProgress != nil {
		c.opts.OnProgress(p)
	}
}
