package host

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tapstack/tapstack/tcp"
)

// WriteSS writes the host's TCP listeners and connections in the layout
// of `ss -tanoi`: State, Recv-Q, Send-Q, local and peer address with the
// pending timer (timer:(on,204ms,0)), and under each connection a line of
// details: options negotiated (ts sack ecn), congestion control, wscale,
// rto, rtt (smoothed/mean deviation, ms), mss, cwnd and ssthresh (in
// segments), bytes sent, acknowledged and received, the send and receive
// windows, unacked (in flight, not SACKed) and sacked segments and the
// RTO backoff. v4 and v6 select the
// families shown.
func (h *Host) WriteSS(w io.Writer, v4, v6 bool) error {
	rows := [][]string{{"State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port", ""}}
	var details []string
	for _, d := range h.tcp.Sockets() {
		a := d.Local.Addr().Unmap()
		if !d.DualStack && ((a.Is4() && !v4) || (a.Is6() && !v6)) {
			continue
		}
		local, peer := d.Local.String(), d.Remote.String()
		switch {
		case d.DualStack:
			local, peer = "*:"+strconv.Itoa(int(d.Local.Port())), "*:*"
		case !d.Remote.IsValid() || d.Remote.Port() == 0:
			peer = "0.0.0.0:*"
			if a.Is6() {
				peer = "[::]:*"
			}
		}
		timer := ""
		if d.Timer != "" {
			timer = fmt.Sprintf("timer:(%s,%s,%d)", d.Timer, ssTimer(d.TimerLeft), d.TimerCount)
		}
		rows = append(rows, []string{ssState(d.State), strconv.Itoa(d.RecvQueue), strconv.Itoa(d.SendQueue), local, peer, timer})
		details = append(details, ssDetail(d))
	}
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	var b strings.Builder
	for i, r := range rows {
		var line strings.Builder
		for j, c := range r {
			if j == 1 || j == 2 || j == 3 { // numbers and the local address right-aligned, as ss does
				fmt.Fprintf(&line, "%*s ", width[j], c)
			} else {
				fmt.Fprintf(&line, "%-*s ", width[j], c)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
		if i > 0 && details[i-1] != "" {
			b.WriteString("\t " + details[i-1] + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ssStates are ss's names of the TCP states.
var ssStates = map[string]string{
	"CLOSED": "UNCONN", "LISTEN": "LISTEN", "SYN_SENT": "SYN-SENT", "SYN_RECEIVED": "SYN-RECV",
	"ESTABLISHED": "ESTAB", "FIN_WAIT_1": "FIN-WAIT-1", "FIN_WAIT_2": "FIN-WAIT-2",
	"CLOSE_WAIT": "CLOSE-WAIT", "CLOSING": "CLOSING", "LAST_ACK": "LAST-ACK", "TIME_WAIT": "TIME-WAIT",
}

func ssState(s string) string {
	if n, ok := ssStates[s]; ok {
		return n
	}
	return s
}

// ssTimer formats a timer's time left as ss does: 204ms, 1.500ms (1.5
// seconds), 12sec, 2min30sec, 15min.
func ssTimer(d time.Duration) string {
	ms := int(d / time.Millisecond)
	secs, mins, msecs := ms/1000%60, ms/60000, ms%1000
	var b strings.Builder
	if mins > 0 {
		msecs = 0
		fmt.Fprintf(&b, "%dmin", mins)
		if mins > 9 {
			secs = 0
		}
	}
	if secs > 0 {
		if secs > 9 {
			msecs = 0
		}
		if msecs > 0 {
			fmt.Fprintf(&b, "%d.", secs)
		} else {
			fmt.Fprintf(&b, "%dsec", secs)
		}
	}
	if msecs > 0 {
		fmt.Fprintf(&b, "%03dms", msecs)
	}
	if b.Len() == 0 {
		return "0ms"
	}
	return b.String()
}

// ssDetail is the line ss -i prints under a connection; empty for a
// listener.
func ssDetail(d tcp.Socket) string {
	if d.State == "LISTEN" {
		return ""
	}
	var f []string
	for _, o := range []struct {
		on   bool
		name string
	}{{d.TS, "ts"}, {d.SACKOn, "sack"}, {d.ECN, "ecn"}} {
		if o.on {
			f = append(f, o.name)
		}
	}
	f = append(f, d.CC)
	if d.SndShift != 0 || d.RcvShift != 0 {
		f = append(f, fmt.Sprintf("wscale:%d,%d", d.SndShift, d.RcvShift))
	}
	f = append(f, "rto:"+msString(d.RTO))
	if d.HasRTT {
		f = append(f, "rtt:"+msString(d.SRTT)+"/"+msString(d.RTTVar))
	}
	mss := max(d.MSS, 1)
	f = append(f, fmt.Sprintf("mss:%d", d.MSS), fmt.Sprintf("cwnd:%d", d.Cwnd/mss))
	if d.Ssthresh < 1<<30 {
		f = append(f, fmt.Sprintf("ssthresh:%d", d.Ssthresh/mss))
	}
	f = append(f, fmt.Sprintf("bytes_sent:%d bytes_acked:%d bytes_received:%d snd_wnd:%d rcv_wnd:%d",
		d.BytesSent, d.BytesAcked, d.BytesReceived, d.SndWnd, d.RcvWnd))
	// As ss -n prints them: rates in bits per second, times in ms.
	if d.Bandwidth > 0 {
		f = append(f, fmt.Sprintf("bbr:(bw:%.0fbps,mrtt:%s,pacing_gain:%g)", 8*d.Bandwidth, msString(d.MinRTT), d.PacingGain))
	}
	if d.PacingRate > 0 {
		f = append(f, fmt.Sprintf("pacing_rate %.0fbps", 8*d.PacingRate))
	}
	if d.MinRTT > 0 {
		f = append(f, "minrtt:"+msString(d.MinRTT))
	}
	if d.BytesInFlight > 0 {
		f = append(f, fmt.Sprintf("unacked:%d", (d.BytesInFlight+mss-1)/mss))
	}
	if d.Sacked > 0 {
		f = append(f, fmt.Sprintf("sacked:%d", (d.Sacked+mss-1)/mss))
	}
	if d.Retries > 0 {
		f = append(f, fmt.Sprintf("backoff:%d", d.Retries))
	}
	return strings.Join(f, " ")
}

// msString is d in milliseconds as ss prints them (%g: 0.05, 204, 1.5).
func msString(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'g', 6, 64)
}
