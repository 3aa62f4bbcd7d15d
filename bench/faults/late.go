package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ---- a namespace that appears while watch --all-netns runs ----
//
// Each round starts `tcpka watch PROFILE --all-netns` under strace, waits
// until it holds the profile in the bench's own namespace, then adds a
// named namespace with random values and sends watch SIGHUP, which checks
// every namespace at once: watch records the newcomer's values, then
// writes the profile there. A SIGKILL lands at a random instant of that
// check. Then: what the newcomer holds (old, new or a mix), whether check
// names a mix, whether revert --all-netns gives the newcomer its values
// back (a write without its record first would lose them), and whether
// anything is left in the state directory.

const lateNS = "faults-late"

// nsExec runs argv in the named namespace.
func nsExec(name string, argv ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", name}, argv...)...).CombinedOutput()
	return string(out), err
}

func readNS(name string) (triple, error) {
	var t triple
	out, err := nsExec(name, "cat", "/proc/sys/net/ipv4/tcp_keepalive_time", "/proc/sys/net/ipv4/tcp_keepalive_intvl",
		"/proc/sys/net/ipv4/tcp_keepalive_probes", "/proc/sys/net/ipv4/tcp_retries2")
	if err != nil {
		return t, fmt.Errorf("read %s: %w: %s", name, err, out)
	}
	f := strings.Fields(out)
	if len(f) != 4 {
		return t, fmt.Errorf("read %s: %q", name, out)
	}
	for i := range t {
		t[i], _ = strconv.Atoi(f[i])
	}
	return t, nil
}

func writeNS(name string, t triple) error {
	var sh strings.Builder
	for i, k := range keys[:3] {
		fmt.Fprintf(&sh, "echo %d > /proc/sys/net/ipv4/%s; ", t[i], k)
	}
	out, err := nsExec(name, "sh", "-c", sh.String())
	if err != nil {
		return fmt.Errorf("write %s: %w: %s", name, err, out)
	}
	return nil
}

// watchRun is one traced watch: started, holding the profile.
type watchRun struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (b *bench) startWatch(p profileJSON, runDir string) (*watchRun, error) {
	cmd := b.straced([]string{"watch", p.Name, "--all-netns", "--interval", "1h", "--run-dir", runDir})
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := &watchRun{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(w.done) }()
	want := p.values()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if now, err := readKernel(); err == nil && now.holds(want) {
			return w, nil
		}
		select {
		case <-w.done:
			return nil, fmt.Errorf("watch %s exited before it held the profile", p.Name)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			w.kill()
			return nil, fmt.Errorf("watch %s did not hold the profile within 20 s", p.Name)
		}
	}
}

// hup asks watch to check every namespace now.
func (w *watchRun) hup() error {
	if pid := child(w.cmd.Process.Pid); pid > 0 {
		return unix.Kill(pid, syscall.SIGHUP)
	}
	return fmt.Errorf("no tcpka under strace %d", w.cmd.Process.Pid)
}

// kill sends tcpka SIGKILL; completed says it had exited already.
func (w *watchRun) kill() (completed bool) {
	pid := child(w.cmd.Process.Pid)
	if pid <= 0 {
		select {
		case <-w.done:
			return true
		default:
		}
		_ = w.cmd.Process.Kill()
	} else {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
	return false
}

func (b *bench) lateKills(n, calib int, ps []profileJSON) (*counts, error) {
	c := &counts{what: "late namespace"}
	runDir := "/run/faults-late"
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, err
	}
	own := b.startValues(ps)
	if err := writeKernel(own); err != nil {
		return nil, err
	}
	// round sets up a watch holding p and a newcomer with start values.
	round := func(p profileJSON) (*watchRun, triple, error) {
		_ = exec.Command("ip", "netns", "del", lateNS).Run()
		w, err := b.startWatch(p, runDir)
		if err != nil {
			return nil, triple{}, err
		}
		if out, err := exec.Command("ip", "netns", "add", lateNS).CombinedOutput(); err != nil {
			w.kill()
			return nil, triple{}, fmt.Errorf("ip netns add: %w: %s", err, out)
		}
		start := b.startValues(ps)
		if err := writeNS(lateNS, start); err != nil {
			w.kill()
			return nil, triple{}, err
		}
		start, err = readNS(lateNS)
		return w, start, err
	}
	// restore puts the bench's namespace back and checks what revert left.
	restore := func() error {
		if _, e, err := b.run("revert", "--all-netns", "--run-dir", runDir); err != nil {
			return fmt.Errorf("revert --all-netns: %w: %s", err, e)
		}
		return nil
	}

	// Measure: from SIGHUP to the newcomer holding the profile.
	var ds []time.Duration
	for i := 0; i < calib; i++ {
		p := ps[i%len(ps)]
		w, _, err := round(p)
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		if err := w.hup(); err != nil {
			w.kill()
			return nil, err
		}
		for {
			if now, err := readNS(lateNS); err == nil && now.holds(p.values()) {
				break
			}
			if time.Since(t0) > 20*time.Second {
				w.kill()
				return nil, fmt.Errorf("the new namespace did not get %s within 20 s of SIGHUP", p.Name)
			}
		}
		ds = append(ds, time.Since(t0))
		w.kill()
		if err := restore(); err != nil {
			return nil, err
		}
	}
	c.runTime = median(ds)
	fmt.Printf("late namespace: SIGHUP to the profile held there under strace %s (median of %d)\n", c.runTime.Round(time.Millisecond), calib)
	baseline, err := stateFiles(runDir) // the lease a watch leaves, say
	if err != nil {
		return nil, err
	}

	for i := 0; i < n; i++ {
		p := ps[b.rng.IntN(len(ps))]
		w, start, err := round(p)
		if err != nil {
			return nil, err
		}
		at := time.Duration(b.rng.Int64N(int64(c.runTime) * 5 / 4))
		if err := w.hup(); err != nil {
			w.kill()
			return nil, err
		}
		time.Sleep(at)
		c.killed(w.kill())
		now, err := readNS(lateNS)
		if err != nil {
			return nil, err
		}
		state := c.classify(now == start, now.holds(p.values()))
		out, e, _ := b.run("check", p.Name, "--json", "--netns", lateNS, "--run-dir", runDir)
		var co checkOut
		if err := json.Unmarshal([]byte(out), &co); err != nil {
			return nil, fmt.Errorf("round %d: check --json: %w: %s%s", i, err, out, e)
		}
		if co.Interrupted != nil {
			c.reported++
		}
		if state == "mix" && co.Interrupted == nil {
			c.unreported++
			anomaly("late namespace round %d: %s -> %s, a mix check does not name", i, start, now)
		}
		if err := restore(); err != nil {
			return nil, err
		}
		if after, err := readNS(lateNS); err != nil {
			return nil, err
		} else if after != start {
			c.lost++
			anomaly("late namespace round %d: killed at %s (%s); revert left %s, not its values from before watch, %s", i, at, state, after, start)
		}
		if left, _ := stateFiles(runDir); len(left) > len(baseline) {
			c.orphans += len(left) - len(baseline)
			anomaly("late namespace round %d: left in the state directory: %v", i, left)
		}
		b.logf("late round %d: %s, killed at %s: %s -> %s", i, p.Name, at.Round(time.Microsecond), start, now)
	}
	_ = exec.Command("ip", "netns", "del", lateNS).Run()
	return c, nil
}
