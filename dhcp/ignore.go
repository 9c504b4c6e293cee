package dhcp

// Ignored says why the machine ignored a received message. Every reply
// the client does not act on is one of these, and the Client counts it as
// the stack counter "dhcp.rx." + the reason's String.
type Ignored uint8

// The reasons a received message is ignored.
const (
	// NotIgnored: the message was acted on (or nothing was received).
	NotIgnored Ignored = iota
	// IgnoredMalformed: the message does not validate.
	IgnoredMalformed
	// IgnoredNotOurs: not a reply, or not to our current transaction ID
	// and hardware address.
	IgnoredNotOurs
	// IgnoredUnexpected: a message type the current state does not wait
	// for (an ACK while selecting, anything while bound).
	IgnoredUnexpected
	// IgnoredWrongServer: an OFFER, ACK or NAK without a server identifier
	// (option 54, which RFC 2131 table 3 makes a server's MUST), or an ACK
	// or NAK from a server other than the one the client is talking to.
	IgnoredWrongServer
	// IgnoredBadAddress: an OFFER or ACK whose yiaddr cannot go on an
	// interface (0.0.0.0, multicast, loopback, broadcast).
	IgnoredBadAddress
)

var ignoredNames = [...]string{"accepted", "malformed", "not_ours", "unexpected", "wrong_server", "bad_address"}

// String returns the reason's counter suffix: "wrong_server" and so on.
func (i Ignored) String() string {
	if int(i) < len(ignoredNames) {
		return ignoredNames[i]
	}
	return "unknown"
}

// ignore is the Output of a message ignored for reason why.
func ignore(why Ignored) Output { return Output{Ignored: why} }
