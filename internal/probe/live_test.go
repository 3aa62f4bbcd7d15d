package probe

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/nstest"
	"golang.org/x/sys/unix"
)

// keepaliveOn sets SO_KEEPALIVE on a socket before it connects.
func keepaliveOn(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1) }

// own sets SO_KEEPALIVE and the socket's own keepalive values.
func own(s keepalive.Settings) func(fd int) error {
	return func(fd int) error {
		for _, o := range [][2]int{{unix.SOL_SOCKET, unix.SO_KEEPALIVE}, {unix.IPPROTO_TCP, unix.TCP_KEEPIDLE}, {unix.IPPROTO_TCP, unix.TCP_KEEPINTVL}, {unix.IPPROTO_TCP, unix.TCP_KEEPCNT}} {
			v := map[int]int{unix.SO_KEEPALIVE: 1, unix.TCP_KEEPIDLE: s.Time, unix.TCP_KEEPINTVL: s.Intvl, unix.TCP_KEEPCNT: s.Probes}[o[1]]
			if err := unix.SetsockoptInt(fd, o[0], o[1], v); err != nil {
				return err
			}
		}
		return nil
	}
}

// unsupported skips the test, outside CI, when the kernel lacks what it
// needs; CI's kernel must have it.
func unsupported(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, errUnsupported) && os.Getenv("CI") != "true" {
		t.Skipf("%v", err)
	}
}

// poll reads A's end of c until cond holds, every 20 ms, for up to limit.
func poll(t *testing.T, p *Pair, c *net.TCPConn, limit time.Duration, cond func(detect.Live) bool) (detect.Live, time.Time) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		l, at, err := p.Live(c)
		if err != nil {
			t.Fatal(err)
		}
		if cond(l) {
			return l, at
		}
		if time.Now().After(deadline) {
			t.Fatalf("within %v: the socket never came to the state looked for: %+v", limit, l)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// failure is when a connection failed, and how.
type failure struct {
	at  time.Time
	err error
}

// dropped waits for c to fail and holds the time it took, counted from
// at, to band (late by up to busy: the reader's wake-up on a loaded
// machine). It must fail as a dead peer does: ETIMEDOUT. A writer blocked
// on c (writer, nil if none) may be the one the kernel tells: the error
// goes to the first to ask.
func dropped(t *testing.T, c *net.TCPConn, writer <-chan failure, at time.Time, b detect.Band, what string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), b.Upper+10*time.Second)
	defer cancel()
	reader := make(chan failure, 1)
	go func() {
		end, err := Until(ctx, c)
		reader <- failure{end, err}
	}()
	var f failure
	select {
	case f = <-reader:
	case f = <-writer:
	}
	end, err := f.at, f.err
	got := end.Sub(at)
	t.Logf("%s: predicted %.3f s [%.3f, %.3f], measured %.3f s (%v)", what, b.Nominal.Seconds(), b.Lower.Seconds(), b.Upper.Seconds(), got.Seconds(), err)
	if !errors.Is(err, syscall.ETIMEDOUT) {
		t.Errorf("%s: the connection ended with %v, want ETIMEDOUT", what, err)
	}
	if got < b.Lower || got > b.Upper+busy {
		t.Errorf("%s: dropped %v after it was read, outside the model's band [%v, %v]", what, got, b.Lower, b.Upper)
	}
	return got
}

// TestArmedTimerKeepsOldValues: a connection made under 30/1/2 keeps its
// 30 s timer when the sysctls become 2/1/2; the model says the first
// probe comes at that timer's expiry, not 2 s after the last packet, and
// the kernel agrees (about 32 s, where the new values alone would give
// 4 s). A socket with SO_KEEPALIVE turned on after the change follows it.
func TestArmedTimerKeepsOldValues(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a measurement of 32 s")
	}
	if !nstest.Private(t) {
		return
	}
	ctx := context.Background()
	p, err := NewPair(ctx, PairOptions{Settings: keepalive.Settings{Time: 30, Intvl: 1, Probes: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	old, _, err := p.Dial(ctx, keepaliveOn) // armed at connect for 30 s
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := p.SetSysctls(keepalive.Settings{Time: 2, Intvl: 1, Probes: 2}); err != nil {
		t.Fatal(err)
	}
	fresh, _, err := p.Dial(ctx, keepaliveOn) // armed after the change: 2 s
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := p.Silence(); err != nil {
		t.Fatal(err)
	}
	l, at, err := p.Live(old)
	if err != nil {
		t.Fatal(err)
	}
	lf, atf, err := p.Live(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if l.Settings.Time != 2 || l.Expires < 25*time.Second {
		t.Fatalf("old socket: values %+v, timer in %v: want 2/1/2 in force and the 30 s timer still armed", l.Settings, l.Expires)
	}
	if stale, until := l.Stale(); !stale || until != l.Expires {
		t.Errorf("old socket: Stale() = %v, %v; want armed with older values until %v", stale, until, l.Expires)
	}
	if stale, _ := lf.Stale(); stale {
		t.Errorf("fresh socket: stale, timer in %v", lf.Expires)
	}
	f, ff := l.Fate(), lf.Fate()
	if f.FirstProbe.Lower < l.Expires-10*time.Millisecond || f.FirstProbe.Lower > l.Expires {
		t.Errorf("old socket: first probe from %v, want at its timer's expiry %v", f.FirstProbe.Lower, l.Expires)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		dropped(t, fresh, nil, atf, ff.Drop, "fresh socket (2/1/2)")
	}()
	dropped(t, old, nil, at, f.Drop, "socket armed under 30/1/2")
	<-done
}

// TestDyingSockets: peers that stop answering, one way each; the socket
// is read once it is dying (its probes or retransmissions out) and the
// model's drop_in holds against the kernel.
func TestDyingSockets(t *testing.T) {
	if !nstest.Private(t) {
		return
	}
	type setup struct {
		pair   PairOptions
		before func(fd int) error
		ut     time.Duration
		data   bool
		window bool
		reason string
	}
	tests := []struct {
		name string
		s    setup
	}{
		{"keepalive, sysctls 2/1/3", setup{pair: PairOptions{Settings: keepalive.Settings{Time: 2, Intvl: 1, Probes: 3}}, before: keepaliveOn, reason: detect.ReasonKeepalive}},
		{"keepalive, own 3/2/2", setup{before: own(keepalive.Settings{Time: 3, Intvl: 2, Probes: 2}), reason: detect.ReasonKeepalive}},
		{"keepalive, user timeout 5 s", setup{pair: PairOptions{Settings: keepalive.Settings{Time: 2, Intvl: 1, Probes: 9}}, before: keepaliveOn, ut: 5 * time.Second, reason: detect.ReasonKeepalive}},
		{"retransmit, retries2 5", setup{pair: PairOptions{Settings: keepalive.Settings{Retries2: 5}}, data: true, reason: detect.ReasonRetransmit}},
		{"retransmit, user timeout 4 s", setup{data: true, ut: 4 * time.Second, reason: detect.ReasonRetransmit}},
		{"retransmit, retries2 4, RTT 100 ms", setup{pair: PairOptions{Settings: keepalive.Settings{Retries2: 4}, Delay: 100 * time.Millisecond}, data: true, reason: detect.ReasonRetransmit}},
		{"zero window, retries2 4", setup{pair: PairOptions{Settings: keepalive.Settings{Retries2: 4}, PeerRcvBuf: 2048}, window: true, reason: detect.ReasonWindow}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			p, err := NewPair(ctx, tt.s.pair)
			unsupported(t, err)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			a, _, err := p.Dial(ctx, tt.s.before)
			if err != nil {
				t.Fatal(err)
			}
			if tt.s.ut > 0 {
				if err := Control(a, func(fd int) error {
					return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(tt.s.ut/time.Millisecond))
				}); err != nil {
					t.Fatal(err)
				}
			}
			var writer chan failure
			if tt.s.window {
				// B does not read: its window closes, and A probes it.
				writer = make(chan failure, 1)
				go func() {
					buf := make([]byte, 64<<10)
					for {
						if _, err := a.Write(buf); err != nil {
							writer <- failure{time.Now(), err}
							return
						}
					}
				}()
				poll(t, p, a, 10*time.Second, func(l detect.Live) bool { return l.Timer == detect.TimerProbe0 })
			}
			port := uint16(a.LocalAddr().(*net.TCPAddr).Port)
			err = p.Drop(port)
			unsupported(t, err)
			if err != nil {
				t.Fatal(err)
			}
			if tt.s.data {
				if _, err := a.Write(make([]byte, 1000)); err != nil {
					t.Fatal(err)
				}
			}
			l, at := poll(t, p, a, 30*time.Second, func(l detect.Live) bool {
				_, dying := l.Dying()
				return dying
			})
			d, _ := l.Dying()
			if d.Reason != tt.s.reason || d.Unanswered < 1 {
				t.Errorf("Dying() = %+v, want reason %s with something unanswered", d, tt.s.reason)
			}
			dropped(t, a, writer, at, d.DropIn, tt.name)
		})
	}
}
