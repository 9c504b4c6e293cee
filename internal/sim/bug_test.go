package sim

import "testing"

// TestBug_SynReceivedTimesOutUnderFaults replays seed 1677, which fails in
// about half the runs (goroutine scheduling varies): a passive connection
// of a request-response exchange (rcvbuf 4 KiB) stays in SYN_RECEIVED
// until its SYN-ACK retries run out (tcp.conn.timeouts=1, tcp.tx.rst=1 on
// the acceptor, tcp.rx.out_of_window>0) while the dialer is ESTABLISHED
// and gets "connection reset by peer"; the listener's Accept never
// returns. The acceptor's host also shows link.rx.not_for_us>0 on the
// peer: a corrupted ARP frame (ARP has no checksum) poisoned a cache, so
// the fault model is involved; why the dialer's ACKs and data do not move
// SYN_RECEIVED on is the open question. See the sim report.
func TestBug_SynReceivedTimesOutUnderFaults(t *testing.T) {
	t.Skip("known bug: seed 1677 SYN_RECEIVED times out while the dialer is ESTABLISHED; see report")
	for range 8 {
		runSeed(t, 1677)
	}
}
