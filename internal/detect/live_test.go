package detect

import (
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/keepalive"
)

// TestLiveFate holds the model of a live socket to the kernel's arithmetic
// at HZ=250 (jiffies of 4 ms), worked by hand in the comments. Bands are
// from the moment the state was read; lower ends lose the jiffy that
// moment may lie in, upper ends gain Slack.
func TestLiveFate(t *testing.T) {
	hz := Net{HZ: 250}
	ka := func(l Live) Live {
		l.Timer, l.KeepaliveOn, l.Net = TimerKeepalive, true, hz
		return l
	}
	tests := []struct {
		name        string
		l           Live
		stale       bool
		first, drop [2]time.Duration // without the start's jiffy and Slack
		reason      string
		dying       bool
	}{
		// Made under 30/1/2, the sysctls now 2/1/2: the timer armed for
		// 30 s (7500 jiffies, level 3: 1 to 512 late) fires first; the
		// idle time is long past 2 s, so it probes; 1 s intervals from a
		// boundary of 512 fire after 256 jiffies; the second unanswered
		// probe's timer drops it.
		{"armed with old values", ka(Live{Expires: 28 * time.Second, ArmedFor: 30 * time.Second, LastDataRecv: 2 * time.Second, LastAckRecv: 2 * time.Second,
			Settings: keepalive.Settings{Time: 2, Intvl: 1, Probes: 2}}),
			true, [2]time.Duration{sec(28.004), sec(30.048)}, [2]time.Duration{sec(30.052), sec(32.096)}, ReasonKeepalive, false},
		// The same without knowing the 30 s: Expires (28 s) sets the
		// level, the same one.
		{"armed with old values, delay unknown", ka(Live{Expires: 28 * time.Second, LastDataRecv: 2 * time.Second, LastAckRecv: 2 * time.Second,
			Settings: keepalive.Settings{Time: 2, Intvl: 1, Probes: 2}}),
			true, [2]time.Duration{sec(28.004), sec(30.048)}, [2]time.Duration{sec(30.052), sec(32.096)}, ReasonKeepalive, false},
		// Following the values in force: 2 s timer (level 1, 1-8 late).
		{"following the sysctls", ka(Live{Expires: 1500 * time.Millisecond, LastDataRecv: 500 * time.Millisecond, LastAckRecv: 500 * time.Millisecond,
			Settings: keepalive.Settings{Time: 2, Intvl: 1, Probes: 3}}),
			false, [2]time.Duration{sec(1.504), sec(1.532)}, [2]time.Duration{sec(1.504 + 3.072), sec(1.532 + 3.072)}, ReasonKeepalive, false},
		// Data came 1 s ago, after the timer was armed: at 3 s it finds 4 s
		// of idleness, below 10, and re-arms for the rest: 10 s after the
		// packet (1500 jiffies, level 2: 1 to 64 late). Then 1 s probes
		// from a boundary of 64: 256 jiffies each.
		{"re-armed for the rest of the idle time", ka(Live{Expires: 3 * time.Second, LastDataRecv: time.Second, LastAckRecv: 2 * time.Second,
			Settings: keepalive.Settings{Time: 10, Intvl: 1, Probes: 2}}),
			false, [2]time.Duration{sec(9.004), sec(9.256)}, [2]time.Duration{sec(9.004 + 2.048), sec(9.256 + 2.048)}, ReasonKeepalive, false},
		// Dying: one probe out, 0.6 s left of its 1 s interval (level 1):
		// two more probes, dropped at the third timer.
		{"keepalive probes out", ka(Live{Expires: 600 * time.Millisecond, Out: 1, LastDataRecv: 2400 * time.Millisecond, LastAckRecv: 2400 * time.Millisecond,
			Settings: keepalive.Settings{Time: 2, Intvl: 1, Probes: 3}}),
			false, [2]time.Duration{}, [2]time.Duration{sec(0.604 + 2.048), sec(0.632 + 2.048)}, ReasonKeepalive, true},
		// With TCP_USER_TIMEOUT 4 s it is dropped at the first timer 4 s
		// after the last packet with a probe out: 2.4 + 0.6 + 1.024 = 4.02.
		{"keepalive probes out, user timeout", ka(Live{Expires: 600 * time.Millisecond, Out: 1, LastDataRecv: 2400 * time.Millisecond, LastAckRecv: 2400 * time.Millisecond,
			Settings: keepalive.Settings{Time: 2, Intvl: 1, Probes: 9, UserTimeout: 4 * time.Second}}),
			false, [2]time.Duration{}, [2]time.Duration{sec(0.604 + 1.024), sec(0.632 + 1.024)}, ReasonKeepalive, true},
		// tcp_retries2 5 (12.6 s) at a 204 ms RTO, after the third
		// retransmission: the RTO is 1.632 s (408 jiffies) and 1 s of it
		// is left; the first retransmission was 1.264 + 0.632 s ago. The
		// next timers: 408 (late 1..8), 816 (late 8..64 from a boundary of
		// 8), 1664: 2.9, 6.2..6.5, 12.9..13.1 s after the first, past
		// 12.6 s at the last.
		{"retransmitting", Live{Timer: TimerRetransmit, Expires: time.Second, Retransmits: 3, Backoff: 3, RTO: 1632 * time.Millisecond,
			SinceRetransmit: 1896 * time.Millisecond, SinceRetransmitKnown: true, LastDataRecv: 2300 * time.Millisecond, LastAckRecv: 2300 * time.Millisecond,
			Settings: keepalive.Settings{Time: 2, Intvl: 1, Probes: 3, Retries2: 5}, Net: hz},
			false, [2]time.Duration{}, [2]time.Duration{sec(1.004 + 3.296 + 6.656), sec(1.032 + 3.52 + 6.656)}, ReasonRetransmit, true},
		// The same worked out from the backoff: the first retransmission
		// 102 (late 1..8) + 408 - 250 jiffies ago.
		{"retransmitting, since worked out", Live{Timer: TimerRetransmit, Expires: time.Second, Retransmits: 3, Backoff: 3, RTO: 1632 * time.Millisecond,
			LastDataRecv: 2300 * time.Millisecond, LastAckRecv: 2300 * time.Millisecond,
			Settings: keepalive.Settings{Time: 2, Intvl: 1, Probes: 3, Retries2: 5}, Net: hz},
			false, [2]time.Duration{}, [2]time.Duration{sec(1.004 + 3.296 + 6.656), sec(1.032 + 3.52 + 6.656)}, ReasonRetransmit, true},
		// Zero window, tcp_retries2 3, one probe out at backoff 1 (408 ms,
		// 300 left): probes 2 and 3 at 816 and 1632 ms (208 and 416
		// jiffies from boundaries of 8), dropped at the next timer.
		{"zero-window probes out", Live{Timer: TimerProbe0, Expires: 300 * time.Millisecond, Out: 1, Backoff: 1, RTO: 204 * time.Millisecond,
			LastDataRecv: 5 * time.Second, LastAckRecv: 500 * time.Millisecond,
			Settings: keepalive.Settings{Time: 2, Intvl: 1, Probes: 3, Retries2: 3}, Net: hz},
			false, [2]time.Duration{}, [2]time.Duration{sec(0.304 + 0.832 + 1.664), sec(0.332 + 0.832 + 1.664)}, ReasonWindow, true},
		// With TCP_USER_TIMEOUT 1 s: the first probe 108 ms ago, so the
		// next timer (at 0.3 s) probes and is clamped to the user timeout,
		// 0.892 s from now, and drops it there (level 1: 1..8 late).
		{"zero-window probes out, user timeout", Live{Timer: TimerProbe0, Expires: 300 * time.Millisecond, Out: 1, Backoff: 1, RTO: 204 * time.Millisecond,
			LastDataRecv: 5 * time.Second, LastAckRecv: 500 * time.Millisecond,
			Settings: keepalive.Settings{Time: 2, Intvl: 1, Probes: 3, Retries2: 3, UserTimeout: time.Second}, Net: hz},
			false, [2]time.Duration{}, [2]time.Duration{sec(0.896), sec(0.924)}, ReasonWindow, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.l.Fate()
			if stale, until := tt.l.Stale(); stale != tt.stale || (stale && until != tt.l.Expires) {
				t.Errorf("Stale() = %v, %v; want %v", stale, until, tt.stale)
			}
			if f.Reason != tt.reason {
				t.Errorf("reason %q, want %q", f.Reason, tt.reason)
			}
			j := jiffy(250)
			if lo, hi := tt.drop[0]-j, tt.drop[1]+Slack; !near(f.Drop.Lower, lo) || !near(f.Drop.Upper, hi) {
				t.Errorf("drop [%v, %v], want [%v, %v] (%s)", f.Drop.Lower, f.Drop.Upper, lo, hi, f.Rule)
			}
			if f.Drop.Nominal < f.Drop.Lower || f.Drop.Nominal > f.Drop.Upper {
				t.Errorf("drop nominal %v outside its band", f.Drop.Nominal)
			}
			if tt.first != [2]time.Duration{} {
				if lo, hi := tt.first[0]-j, tt.first[1]+Slack; !near(f.FirstProbe.Lower, lo) || !near(f.FirstProbe.Upper, hi) {
					t.Errorf("first probe [%v, %v], want [%v, %v]", f.FirstProbe.Lower, f.FirstProbe.Upper, lo, hi)
				}
			} else if !f.FirstProbe.Never {
				t.Errorf("first probe %+v, want none (probing already, or no keepalive)", f.FirstProbe)
			}
			d, dying := tt.l.Dying()
			if dying != tt.dying {
				t.Fatalf("Dying() = %v, want %v", dying, tt.dying)
			}
			if dying && (d.Reason != tt.reason || d.DropIn != f.Drop || d.Silent != tt.l.Silent() || d.Unanswered == 0) {
				t.Errorf("Dying() = %+v", d)
			}
		})
	}
}

// TestLiveAgreesWithPredict: a socket read while retransmitting is the
// same connection Predict follows from the send; the two bands agree
// once shifted by when it was read, within what the read cannot see (the
// alignment of the timer then armed: its lateness is 1..8 jiffies to the
// reader, exactly 8 to Predict, which knows the timer before it fired on
// a boundary of 8).
func TestLiveAgreesWithPredict(t *testing.T) {
	c := Case{Settings: keepalive.Settings{Retries2: 5}, Data: true, Retrans: Retrans{RTO: 204 * time.Millisecond}, HZ: 250}
	whole := Predict(c)
	// Read 0.632 s into the fourth RTO timer (408 jiffies): the third
	// retransmission went out 415..422 jiffies after the send.
	l := Live{Timer: TimerRetransmit, Expires: time.Second, Retransmits: 3, Backoff: 3, RTO: 1632 * time.Millisecond,
		Settings: keepalive.Settings{Retries2: 5}, Net: Net{HZ: 250}}
	f := l.Fate()
	for _, read := range []time.Duration{sec(0.632 + 1.66), sec(0.632 + 1.688)} {
		if f.Drop.Lower+read < whole.Lower-40*time.Millisecond || f.Drop.Upper+read > whole.Upper+40*time.Millisecond {
			t.Errorf("read at %v: [%v, %v] from the send, Predict [%v, %v]", read, f.Drop.Lower+read, f.Drop.Upper+read, whole.Lower, whole.Upper)
		}
	}
}

// TestLiveOverdue: a timer whose expiry has come reads Expires 0 while
// it waits for its bucket, up to a granularity; the model counts the
// time since the first retransmission up to that much longer. Read so
// with tcp_retries2 5 and TCP_USER_TIMEOUT 20 s after the fourth
// retransmission (its 816-jiffy timer, granularity 64), the connection is
// dropped 20.004..20.256 s after the first retransmission, which was
// 6.172..6.452 s ago.
func TestLiveOverdue(t *testing.T) {
	l := Live{Timer: TimerRetransmit, Retransmits: 4, Backoff: 4, RTO: 3264 * time.Millisecond,
		Settings: keepalive.Settings{Retries2: 5, UserTimeout: 20 * time.Second}, Net: Net{HZ: 250}}
	f := l.Fate()
	if f.Drop.Lower > sec(20.004-6.452) || f.Drop.Upper < sec(20.256-6.172) {
		t.Errorf("drop [%v, %v], want it to cover [%v, %v]", f.Drop.Lower, f.Drop.Upper, sec(20.004-6.452), sec(20.256-6.172))
	}
}

func TestLiveNever(t *testing.T) {
	l := Live{Timer: TimerNone, Settings: ka(2, 1, 3), Net: Net{HZ: 250}}
	if f := l.Fate(); !f.Never || !f.Drop.Never {
		t.Errorf("no timer: %+v, want never", f)
	}
	if _, dying := l.Dying(); dying {
		t.Error("no timer: dying")
	}
	// A tail loss probe or first RTO pending is not dying yet.
	if _, dying := (Live{Timer: TimerRetransmit, Expires: 200 * time.Millisecond, RTO: 204 * time.Millisecond, Net: Net{HZ: 250}}).Dying(); dying {
		t.Error("retransmit timer before any retransmission: dying")
	}
}
