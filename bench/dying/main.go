// Command dying makes peers vanish (nftables in the peer's scratch
// namespace drops every packet of the connection) in each way a connection
// can die, reads the survivor's socket as tcpka does every -every while
// it dies, and holds each reading's prediction (detect.Live.Dying: why,
// how much is unanswered, how long the peer has been silent, when the
// kernel drops it) to the moment the kernel did. It prints a markdown
// table, one row per case; times are counted from the moment the peer
// vanished. Every case runs at once in scratch network namespaces of its
// own; run it as root in private mount and pid namespaces with a tmpfs on
// /run (bench/dying/run does). Exit 1 when a reading's band misses.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/probe"
	"golang.org/x/sys/unix"
)

// kase is one way to die.
type kase struct {
	name   string
	pair   probe.PairOptions
	before func(fd int) error // options before connect
	ut     time.Duration      // TCP_USER_TIMEOUT
	data   bool               // data in flight after the peer vanished
	window bool               // the peer stops reading first: zero window
}

// reading is one read of the dying socket.
type reading struct {
	at   time.Duration // since the peer vanished
	d    detect.Dying
	drop detect.Band // d.DropIn, from the moment the peer vanished
}

type result struct {
	k        kase
	readings []reading
	got      time.Duration // when the kernel dropped it, since the peer vanished
	err      error
}

func main() {
	every := flag.Duration("every", 250*time.Millisecond, "read the dying sockets this often")
	flag.Parse()
	ka := func(t, i, p int) func(fd int) error {
		return func(fd int) error {
			for _, o := range [][3]int{{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1}, {unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, t}, {unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, i}, {unix.IPPROTO_TCP, unix.TCP_KEEPCNT, p}} {
				if o[2] == 0 {
					continue
				}
				if err := unix.SetsockoptInt(fd, o[0], o[1], o[2]); err != nil {
					return err
				}
			}
			return nil
		}
	}
	on := ka(0, 0, 0)
	sys := func(t, i, p, r int) probe.PairOptions {
		return probe.PairOptions{Settings: keepalive.Settings{Time: t, Intvl: i, Probes: p, Retries2: r}}
	}
	cases := []kase{
		{name: "keepalive, sysctls 2/1/3", pair: sys(2, 1, 3, 0), before: on},
		{name: "keepalive, sysctls 5/2/4", pair: sys(5, 2, 4, 0), before: on},
		{name: "keepalive, own 3/2/2 (sysctls 7200/75/9)", before: ka(3, 2, 2)},
		{name: "keepalive 2/1/9, user timeout 6 s", pair: sys(2, 1, 9, 0), before: on, ut: 6 * time.Second},
		{name: "data, tcp_retries2 3", pair: sys(0, 0, 0, 3), data: true},
		{name: "data, tcp_retries2 5", pair: sys(0, 0, 0, 5), data: true},
		{name: "data, tcp_retries2 7", pair: sys(0, 0, 0, 7), data: true},
		{name: "data, tcp_retries2 5, RTT 100 ms", pair: probe.PairOptions{Settings: keepalive.Settings{Retries2: 5}, Delay: 100 * time.Millisecond}, data: true},
		{name: "data, tcp_retries2 5, user timeout 6 s (below its 13.4 s)", pair: sys(0, 0, 0, 5), data: true, ut: 6 * time.Second},
		{name: "data, tcp_retries2 5, user timeout 20 s (above)", pair: sys(0, 0, 0, 5), data: true, ut: 20 * time.Second},
		{name: "zero window, tcp_retries2 4", pair: probe.PairOptions{Settings: keepalive.Settings{Retries2: 4}, PeerRcvBuf: 2048}, window: true},
		{name: "zero window, tcp_retries2 6", pair: probe.PairOptions{Settings: keepalive.Settings{Retries2: 6}, PeerRcvBuf: 2048}, window: true},
		{name: "zero window, tcp_retries2 8, user timeout 5 s", pair: probe.PairOptions{Settings: keepalive.Settings{Retries2: 8}, PeerRcvBuf: 2048}, window: true, ut: 5 * time.Second},
	}
	results := make([]result, len(cases))
	var wg sync.WaitGroup
	for i, k := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = die(k, *every)
		}()
	}
	wg.Wait()

	hz, _ := detect.ReadHZ("/proc")
	fmt.Printf("# %s, HZ=%d, load %s; a reading every %s; times from the moment the peer vanished\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), hz, load(), *every)
	fmt.Println("| case | first reading: reason, unanswered, silent | drop predicted then | last reading: unanswered, silent | drop predicted then | dropped | readings in band | verdict |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	bad := false
	for _, r := range results {
		v, in := "ok", 0
		for _, x := range r.readings {
			if x.drop.Contains(r.got) {
				in++
			} else {
				fmt.Fprintf(os.Stderr, "dying: %s: the reading at %.3f s (%s, %d out, silent %.3f s, rule %q) predicted %s, dropped at %.3f s\n",
					r.k.name, x.at.Seconds(), x.d.Reason, x.d.Unanswered, x.d.Silent.Seconds(), x.d.Rule, band(x.drop), r.got.Seconds())
			}
		}
		switch {
		case r.err != nil:
			v, bad = "ERROR: "+r.err.Error(), true
		case len(r.readings) == 0:
			v, bad = "MISS: never read while dying", true
		case in < len(r.readings):
			v, bad = "MISS", true
		}
		first, last := reading{}, reading{}
		if n := len(r.readings); n > 0 {
			first, last = r.readings[0], r.readings[n-1]
		}
		fmt.Printf("| %s | at %.2f s: %s, %d, %.2f s | %s | at %.2f s: %d, %.2f s | %s | %.2f s | %d of %d | %s |\n",
			r.k.name, first.at.Seconds(), first.d.Reason, first.d.Unanswered, first.d.Silent.Seconds(), band(first.drop),
			last.at.Seconds(), last.d.Unanswered, last.d.Silent.Seconds(), band(last.drop), r.got.Seconds(), in, len(r.readings), v)
	}
	if bad {
		os.Exit(1)
	}
}

// die runs one case: connect, make the peer vanish, read the socket while
// it dies, and time the kernel's drop.
func die(k kase, every time.Duration) (res result) {
	res.k = k
	ctx := context.Background()
	p, err := probe.NewPair(ctx, k.pair)
	if err != nil {
		res.err = err
		return res
	}
	defer p.Close()
	a, _, err := p.Dial(ctx, k.before)
	if err != nil {
		res.err = err
		return res
	}
	if k.ut > 0 {
		if err := probe.Control(a, func(fd int) error {
			return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(k.ut/time.Millisecond))
		}); err != nil {
			res.err = err
			return res
		}
	}
	failed := make(chan failure, 2)
	if k.window {
		// The peer does not read: its window closes and A probes it.
		go func() {
			buf := make([]byte, 64<<10)
			for {
				if _, err := a.Write(buf); err != nil {
					failed <- failure{time.Now(), err}
					return
				}
			}
		}()
		if err := waitFor(p, a, 10*time.Second, func(l detect.Live) bool { return l.Timer == detect.TimerProbe0 }); err != nil {
			res.err = err
			return res
		}
	}
	if err := p.Drop(uint16(a.LocalAddr().(*net.TCPAddr).Port)); err != nil {
		res.err = err
		return res
	}
	t0 := time.Now()
	if k.data {
		if _, err := a.Write(make([]byte, 1000)); err != nil {
			res.err = err
			return res
		}
	}
	go func() {
		end, err := probe.Until(ctx, a)
		failed <- failure{end, err}
	}()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case f := <-failed:
			res.got = f.at.Sub(t0)
			if !errors.Is(f.err, syscall.ETIMEDOUT) {
				res.err = fmt.Errorf("ended with %v, not ETIMEDOUT", f.err)
			}
			return res
		case <-tick.C:
			l, at, err := p.Live(a)
			after := time.Now()
			if err != nil {
				continue // gone between the tick and the dump
			}
			// The kernel filled the dump in between at and after: the
			// drop comes drop_in after some moment in there.
			if d, dying := l.Dying(); dying {
				since := at.Sub(t0)
				b := d.DropIn
				b.Lower += since
				b.Nominal += since
				b.Upper += after.Sub(t0)
				res.readings = append(res.readings, reading{since, d, b})
			}
		case <-time.After(20 * time.Minute):
			res.err = errors.New("not dropped within 20 min")
			return res
		}
	}
}

type failure struct {
	at  time.Time
	err error
}

func waitFor(p *probe.Pair, a *net.TCPConn, limit time.Duration, cond func(detect.Live) bool) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if l, _, err := p.Live(a); err == nil && cond(l) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("the socket did not come to the state looked for within %s", limit)
}

func band(b detect.Band) string {
	return fmt.Sprintf("%.2f [%.2f, %.2f]", b.Nominal.Seconds(), b.Lower.Seconds(), b.Upper.Seconds())
}

func load() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil || len(b) < 14 {
		return "?"
	}
	return string(b[:14])
}
