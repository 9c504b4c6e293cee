package sim

import "testing"

// TestBug_SynReceivedTimesOutUnderFaults replays seed 1677, which fails in
// about half the runs (goroutine scheduling varies): a passive connection
// of a request-response exchange (rcvbuf 4 KiB) stays in SYN_RECEIVED
// until its SYN-ACK retries run out (tcp.conn.timeouts=1, tcp.tx.rst=1 on
// the acceptor, tcp.rx.out_of_window>0) while the dialer is ESTABLISHED
// and gets "connection reset by peer"; the listener's Accept never
// returns. Seed 8826 (router topology, no ARP poisoning) fails the same
// way; both have a 4 KiB receive buffer, so suspect the acceptability
// test or window in SYN_RECEIVED with a small buffer. See the sim report.
func TestBug_SynReceivedTimesOutUnderFaults(t *testing.T) {
	t.Skip("known bug: seeds 1677, 8826 (rcvbuf 4 KiB): SYN_RECEIVED times out while the dialer is ESTABLISHED; see report")
	for range 8 {
		runSeed(t, 1677)
		runSeed(t, 8826)
	}
}
