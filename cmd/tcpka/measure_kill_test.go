package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/nstest"
)

// netnsFDs lists the network namespaces pid holds open by descriptor
// (readlink /proc/PID/fd/N is "net:[INODE]", or the name under /run/netns
// it was opened by), other than its own.
func netnsFDs(pid int) []string {
	own, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/net")
	es, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	var out []string
	for _, e := range es {
		l, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "fd", e.Name()))
		if err == nil && (strings.HasPrefix(l, "net:[") && l != own || strings.HasPrefix(l, "/run/netns/")) {
			out = append(out, l)
		}
	}
	return out
}

// TestKilledMeasureLeavesNoNamespace: a tcpka measure killed with SIGKILL
// while it measures leaves no namespace behind: nothing under /run/netns,
// and show --all-netns finds the test's own namespace only, so a later
// apply --all-netns has nothing of measure's to tune.
func TestKilledMeasureLeavesNoNamespace(t *testing.T) {
	if !nstest.Private(t, "ip") {
		return
	}
	nstest.Run(t, "ip", "link", "set", "lo", "up")
	for _, args := range [][]string{
		{"measure", "ssh"},                         // two namespaces and a veth pair
		{"measure", "ssh", "--nat-timeout", "30s"}, // three, and the router's nft table
	} {
		cmd := exec.Command(tcpkaBinary(t), args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		held := 0
		// Generous: under CI's -race build of every package at once a
		// start can take seconds; measure itself runs for minutes.
	wait:
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			select {
			case err := <-exited:
				t.Fatalf("tcpka %s ended before it was killed (%v): %s", strings.Join(args, " "), err, stderr.String())
			default:
			}
			if held = len(netnsFDs(cmd.Process.Pid)); held >= 2 {
				break wait
			}
		}
		time.Sleep(500 * time.Millisecond) // links, addresses, the connection
		if held < 2 {
			cmd.Process.Kill()
			<-exited
			t.Fatalf("tcpka %s: never held its scratch namespaces: %s", strings.Join(args, " "), stderr.String())
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-exited

		if es, _ := os.ReadDir("/run/netns"); len(es) != 0 {
			var names []string
			for _, e := range es {
				names = append(names, e.Name())
			}
			t.Errorf("tcpka %s killed: /run/netns holds %s", strings.Join(args, " "), strings.Join(names, ", "))
		}
		out, errs, code := tcpkaRun(t, "show", "--all-netns", "--json")
		var shown struct {
			Namespaces []struct {
				Netns string   `json:"netns"`
				Names []string `json:"names"`
			} `json:"namespaces"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &shown) != nil {
			t.Fatalf("show --all-netns --json: exit %d\n%s%s", code, out, errs)
		}
		if len(shown.Namespaces) != 1 {
			t.Errorf("tcpka %s killed: show --all-netns lists %d namespaces, want only the test's own:\n%s", strings.Join(args, " "), len(shown.Namespaces), out)
		}
		if fds := netnsFDs(os.Getpid()); len(fds) != 0 {
			t.Errorf("the test itself holds namespaces %v", fds)
		}
		// Clean for the next round, whatever the old code left.
		es, _ := os.ReadDir("/run/netns")
		for _, e := range es {
			exec.Command("ip", "netns", "delete", e.Name()).Run()
		}
	}
}
