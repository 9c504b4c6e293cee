package host

import (
	"testing"
	"time"
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
