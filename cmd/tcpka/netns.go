package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/tcpka/tcpka/internal/netns"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// resolveNetns opens the --netns target before the command runs, so a bad
// target is one clear line and nothing else happens. ok is false when run
// must return code.
func (e *Env) resolveNetns(cmd *Command, stderr io.Writer) (code int, ok bool) {
	if e.Netns == "" {
		return 0, true
	}
	t, err := netns.Resolve(e.Netns, netns.DefaultRunDir, e.ProcRoot)
	if errors.Is(err, netns.ErrBadSpec) {
		fmt.Fprintf(stderr, "tcpka: %s: --netns %s (usage: tcpka %s)\n", cmd.Name, oneLine(err.Error()), cmd.UsageLine)
		return exitUsage, false
	}
	if err != nil {
		fmt.Fprintf(stderr, "tcpka: --netns %s: %s\n", e.Netns, oneLine(err.Error()))
		return exitFailure, false
	}
	e.target = t
	return 0, true
}

// inNetns runs fn inside the --netns target, or right here without one.
// /proc/sys/net shows the namespace of the thread that opens the file, so
// every open of /proc/sys/net (or of a netlink socket) meant for the target
// must happen inside fn; fn runs on an OS thread of its own that no other
// goroutine uses, and must not hand work to other goroutines.
func (e *Env) inNetns(fn func() error) error {
	if e.target == nil {
		return fn()
	}
	return netns.Do(e.target, fn)
}

// readValues reads the three keys of the namespace tcpka acts on.
func (e *Env) readValues() (sysctl.Values, error) {
	var v sysctl.Values
	err := e.inNetns(func() error {
		var err error
		v, err = e.sysFS().Read()
		return err
	})
	return v, err
}
