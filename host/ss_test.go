package host

import (
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/tcp"
)

// ssTimer prints a timer's time left the way ss does (its print_ms_timer):
// milliseconds below a second, seconds with milliseconds below ten
// seconds, minutes and seconds below ten minutes, minutes beyond.
func TestSSTimerLikeSS(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0ms"},
		{204 * time.Millisecond, "204ms"},
		{1500 * time.Millisecond, "1.500ms"},
		{2 * time.Second, "2sec"},
		{12*time.Second + 300*time.Millisecond, "12sec"},
		{150 * time.Second, "2min30sec"},
		{59*time.Minute + 59*time.Second, "59min"},
		{119 * time.Minute, "119min"},
	} {
		if got := ssTimer(tt.d); got != tt.want {
			t.Errorf("ssTimer(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// ss names the states with dashes and ESTAB.
func TestSSStateNames(t *testing.T) {
	for in, want := range map[string]string{"ESTABLISHED": "ESTAB", "SYN_RECEIVED": "SYN-RECV", "TIME_WAIT": "TIME-WAIT", "LISTEN": "LISTEN", "CLOSED": "UNCONN"} {
		if got := ssState(in); got != want {
			t.Errorf("ssState(%s) = %s, want %s", in, got, want)
		}
	}
}

// ss -tin prints BBR's model, the pacing rate (bits per second) and the
// least RTT (ms) of a connection: bbrlite's as Linux's bbr, and no model
// or pacing rate for an algorithm that does not pace.
func TestSSDetailPacingLikeSS(t *testing.T) {
	for _, tt := range []struct {
		name      string
		d         tcp.ConnDetail
		want      []string
		wantNever []string
	}{
		{"bbrlite in startup",
			tcp.ConnDetail{CC: "bbrlite", MSS: 1448, MinRTT: 50 * time.Millisecond, Bandwidth: 1e6, PacingGain: 2.885, PacingRate: 2.885e6},
			[]string{" bbrlite ", " bbr:(bw:8000000bps,mrtt:50,pacing_gain:2.885) ", " pacing_rate 23080000bps ", " minrtt:50"}, nil},
		{"cubic, not paced",
			tcp.ConnDetail{CC: "cubic", MSS: 1448, MinRTT: 1500 * time.Microsecond},
			[]string{" cubic ", " minrtt:1.5"}, []string{"bbr:", "pacing_rate"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.d.State = "ESTABLISHED"
			got := " " + ssDetail(tcp.Socket{ConnDetail: tt.d}) + " "
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q lacks %q", got, w)
				}
			}
			for _, w := range tt.wantNever {
				if strings.Contains(got, w) {
					t.Errorf("%q has %q", got, w)
				}
			}
		})
	}
}
