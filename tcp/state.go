package tcp

// State is a TCP connection state (RFC 9293 section 3.3.2).
type State uint8

// The connection states.
const (
	StateClosed State = iota
	StateListen
	StateSynSent
	StateSynReceived
	StateEstablished
	StateFinWait1
	StateFinWait2
	StateCloseWait
	StateClosing
	StateLastAck
	StateTimeWait
)

var stateNames = [...]string{
	StateClosed:      "CLOSED",
	StateListen:      "LISTEN",
	StateSynSent:     "SYN_SENT",
	StateSynReceived: "SYN_RECEIVED",
	StateEstablished: "ESTABLISHED",
	StateFinWait1:    "FIN_WAIT_1",
	StateFinWait2:    "FIN_WAIT_2",
	StateCloseWait:   "CLOSE_WAIT",
	StateClosing:     "CLOSING",
	StateLastAck:     "LAST_ACK",
	StateTimeWait:    "TIME_WAIT",
}

// String returns the state's name as netstat prints it ("ESTABLISHED").
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// synchronized reports whether the state is past the handshake and not
// yet closed (RFC 9293: the states in which a RST is sent on abort).
func (s State) synchronized() bool {
	return s >= StateEstablished && s <= StateTimeWait
}

// handshaking reports whether the state is SYN_SENT or SYN_RECEIVED.
func (s State) handshaking() bool { return s == StateSynSent || s == StateSynReceived }
