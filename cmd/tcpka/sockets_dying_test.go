package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/nstest"
	"github.com/tcpka/tcpka/internal/probe"
	"golang.org/x/sys/unix"
)

// TestSocketsDyingKill: two connections from A to B in scratch
// namespaces, keepalive 1/1/60 in A; B's end of one vanishes (nftables
// drops its packets). sockets --dying lists that one alone, probing with
// its probes unanswered and dropped by the kernel a minute later;
// --kill --dry-run closes nothing; --kill closes it: the application's
// read fails with ECONNABORTED, and the other connection still carries
// data both ways.
func TestSocketsDyingKill(t *testing.T) {
	if !nstest.Private(t) {
		return
	}
	ctx := context.Background()
	p, err := probe.NewPair(ctx, probe.PairOptions{Settings: keepalive.Settings{Time: 1, Intvl: 1, Probes: 60}})
	if probe.Unsupported(err) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	on := func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1) }
	hung, _, err := p.Dial(ctx, on)
	if err != nil {
		t.Fatal(err)
	}
	alive, alivePeer, err := p.Dial(ctx, on)
	if err != nil {
		t.Fatal(err)
	}
	port := hung.LocalAddr().(*net.TCPAddr).Port
	if err := p.Drop(uint16(port)); err != nil {
		t.Fatal(err)
	}
	a := p.PathA()

	// Dying once a probe is out and unanswered: within about 2 s.
	type listed struct {
		Sockets []struct {
			Local string
			Dying *struct {
				Reason     string
				Unanswered int
				SilentS    int `json:"silent_s"`
				DropInS    int `json:"drop_in_s"`
			}
			Killed *bool
		}
	}
	var got listed
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, errs, code := tcpkaRun(t, "sockets", "--dying", "--json", "--netns", a)
		if code != 0 {
			t.Fatalf("sockets --dying --json: exit %d: %s", code, errs)
		}
		got = listed{}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("sockets --dying --json: %v\n%s", err, out)
		}
		if len(got.Sockets) > 0 && got.Sockets[0].Dying.Unanswered >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(got.Sockets) != 1 || got.Sockets[0].Local != hung.LocalAddr().String() {
		t.Fatalf("sockets --dying lists %+v, want the one connection %s", got.Sockets, hung.LocalAddr())
	}
	d := got.Sockets[0].Dying
	// 60 probes a second apart, 2 or 3 out: 57 or 58 more, and the timer
	// after the last drops it, each a little late on the timer wheel.
	if d.Reason != "keepalive" || d.Unanswered < 2 || d.SilentS < 2 || d.DropInS < 56 || d.DropInS > 62 {
		t.Errorf("dying %+v: want keepalive, 2 or more probes out, silent 2 s or more, dropped in 56..62 s", *d)
	}
	out, _, code := tcpkaRun(t, "sockets", "--dying", "--netns", a)
	mustMatch(t, "sockets --dying", out, `(?m)^LOCAL +PEER +REASON +UNANSWERED +SILENT +DROPPED$`)
	mustMatch(t, "sockets --dying", out, `(?m)^`+regexp.QuoteMeta(hung.LocalAddr().String())+` +192\.0\.2\.2:\d+ +keepalive +\d+ +\d+ s +in (\d+ s|1m\d*s?)$`)
	if code != 0 || regexp.MustCompile(`(?m)^\S+:`+strconv.Itoa(alive.LocalAddr().(*net.TCPAddr).Port)+` `).MatchString(out) {
		t.Errorf("sockets --dying: exit %d, lists the live connection:\n%s", code, out)
	}

	out, errs, code := tcpkaRun(t, "sockets", "--dying", "--kill", "--dry-run", "--netns", a)
	mustMatch(t, "--kill --dry-run", out, `(?m) +in \S+( s)? +would close$`)
	mustMatch(t, "--kill --dry-run", out, `(?m)^dry run: would close 1 dying connection; nothing closed$`)
	if code != 0 || errs != "" {
		t.Errorf("--kill --dry-run: exit %d, stderr %q", code, errs)
	}
	hung.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := hung.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after --dry-run the hung connection reads %v: want it still open", err)
	}

	out, errs, code = tcpkaRun(t, "sockets", "--dying", "--kill", "--netns", a)
	mustMatch(t, "--kill", out, `(?m)^`+regexp.QuoteMeta(hung.LocalAddr().String())+` .* +in \S+( s)? +closed$`)
	mustMatch(t, "--kill", out, `(?m)^closed 1 of 1 dying connection$`)
	if code != 0 || errs != "" {
		t.Errorf("--kill: exit %d, stderr %q", code, errs)
	}
	hung.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := hung.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNABORTED) {
		t.Errorf("the application's read after --kill: %v, want ECONNABORTED", err)
	}
	// The other connection is untouched: data goes both ways.
	for _, dir := range [][2]*net.TCPConn{{alive, alivePeer}, {alivePeer, alive}} {
		dir[1].SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4)
		if _, err := dir[0].Write([]byte("ping")); err != nil {
			t.Fatalf("live connection after --kill: write: %v", err)
		}
		if _, err := dir[1].Read(buf); err != nil || string(buf) != "ping" {
			t.Fatalf("live connection after --kill: read %q, %v", buf, err)
		}
	}
	out, _, _ = tcpkaRun(t, "sockets", "--dying", "--netns", a)
	mustMatch(t, "after --kill", out, `(?m)^no dying connections: every peer answers$`)
}
