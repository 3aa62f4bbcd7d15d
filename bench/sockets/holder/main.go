// Command holder holds many loopback TCP connections open for the sockets
// benchmark: -n connections (2n sockets), client sides with SO_KEEPALIVE
// (most following the sysctls, every fifth with its own 60/10/6, every
// 50th also TCP_USER_TIMEOUT), server sides without. One in ten connections
// is IPv6. It prints "ready" and holds them until SIGTERM or SIGINT. Run it
// in a scratch network namespace with lo up and a wide ip_local_port_range;
// it needs 2n+100 descriptors under RLIMIT_NOFILE's hard limit (Go raises
// the soft limit to it), so the run script starts several holders.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/sockopt"
	"golang.org/x/sys/unix"
)

func main() {
	n := flag.Int("n", 45000, "connections to hold")
	goDefaults := flag.Bool("go-defaults", false, "dial and accept like a plain Go program: net's default keepalive (15/15/9 on both sides), nothing else")
	flag.Parse()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < uint64(2**n+100) {
		fail("RLIMIT_NOFILE %d is too low for %d connections (%v)", lim.Cur, *n, err)
	}
	lc := net.ListenConfig{KeepAlive: -1}
	d := net.Dialer{KeepAlive: -1}
	if *goDefaults {
		lc, d = net.ListenConfig{}, net.Dialer{}
	}
	ln4, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		fail("%v", err)
	}
	ln6, err := lc.Listen(context.Background(), "tcp6", "[::1]:0")
	if err != nil {
		fail("%v", err)
	}
	var mu sync.Mutex
	var held []net.Conn
	accept := func(ln net.Listener) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}
	go accept(ln4)
	go accept(ln6)
	for i := 0; i < *n; i++ {
		addr := ln4.Addr()
		if i%10 == 1 {
			addr = ln6.Addr()
		}
		c, err := d.Dial("tcp", addr.String())
		if err != nil {
			fail("connection %d: %v", i, err)
		}
		if *goDefaults {
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
			continue
		}
		o := sockopt.Options{On: true}
		if i%5 == 0 {
			o.Settings = keepalive.Settings{Time: 60, Intvl: 10, Probes: 6}
		}
		if i%50 == 0 {
			o.Settings.UserTimeout = 2 * time.Minute
		}
		rc, _ := c.(*net.TCPConn).SyscallConn()
		var serr error
		rc.Control(func(fd uintptr) { serr = sockopt.Set(int(fd), o) })
		if serr != nil {
			fail("setsockopt: %v", serr)
		}
		mu.Lock()
		held = append(held, c)
		mu.Unlock()
	}
	for {
		mu.Lock()
		k := len(held)
		mu.Unlock()
		if k >= 2**n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, unix.SIGTERM, unix.SIGINT)
	<-sig
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "holder: "+format+"\n", args...)
	os.Exit(1)
}
