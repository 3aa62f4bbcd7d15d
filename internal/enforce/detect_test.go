package enforce

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/enforce/enforcetest"
	"golang.org/x/sys/unix"
)

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// TestDetection is a real dead-peer detection: with 2/1/3 enforced on the
// test cgroup, a connection from a program that never sets SO_KEEPALIVE
// dies with ETIMEDOUT within the measure band [5 s, 5*1.15+1 s] after its
// peer goes silent (no RST: the peer's address is pointed at a MAC nobody
// has). The same connection from a process outside the cgroup lives on.
func TestDetection(t *testing.T) {
	if !enforcetest.InScratchNetns(t) {
		return
	}
	if err := CheckKernel(); err != nil {
		t.Skip(err)
	}
	cg, err := OpenCgroup(enforcetest.Cgroup(t))
	if err != nil {
		t.Fatal(err)
	}
	st := Store{BPFRoot: enforcetest.BPFFS(t), RunDir: t.TempDir()}
	p := settings(2, 1, 3)
	if _, err := st.Attach(cg, "test", p, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := st.Remove(cg.Path); err != nil {
			t.Error(err)
		}
	})

	// The peer: its own netns B joined to this one (A) by a veth pair.
	peer := enforcetest.StartInNetns(t,
		`while ! ip link show tkb >/dev/null 2>&1; do sleep 0.02; done && ip addr add 10.77.0.2/24 dev tkb && ip link set tkb up`,
		"listen:10.77.0.2:7777", "accept", "accept")
	ip(t, "link", "add", "tka", "type", "veth", "peer", "name", "tkb", "netns", strconv.Itoa(peer.Pid()))
	ip(t, "addr", "add", "10.77.0.1/24", "dev", "tka")
	ip(t, "link", "set", "tka", "up")
	peer.Next(t) // listening

	in := enforcetest.Start(t, cg.Path, "dial:10.77.0.2:7777")
	inFD := fdField(t, in.Next(t), 1)
	out := enforcetest.Start(t, "", "dial:10.77.0.2:7777")
	outFD := fdField(t, out.Next(t), 1)
	peer.Next(t)
	peer.Next(t)
	wantKA(t, "inside the cgroup", childOpts(t, in.Pid(), inFD), true, 2, 1, 3)
	wantKA(t, "outside the cgroup", childOpts(t, out.Pid(), outFD), false, 0, 0, 0)

	// Silence the peer without a RST.
	ip(t, "neigh", "replace", "10.77.0.2", "lladdr", "02:00:00:00:00:99", "dev", "tka", "nud", "permanent")
	in.Send(t, "wait")
	line := in.Next(t) // "err ERRNO MS ..."
	f := strings.Fields(line)
	if len(f) < 3 {
		t.Fatalf("client said %q", line)
	}
	errno, _ := strconv.Atoi(f[1])
	ms, _ := strconv.Atoi(f[2])
	predicted := detect.Idle(settings(2, 1, 3))
	lo, hi := float64(predicted), float64(predicted)*1.15+1
	got := float64(ms) / 1000
	t.Logf("detection with 2/1/3 enforced: %.2f s (predicted %d s, band [%.2f, %.2f] s)", got, predicted, lo, hi)
	fmt.Printf("DETECTION %.3f s predicted %d s band [%.2f, %.2f]\n", got, predicted, lo, hi)
	if errno != int(unix.ETIMEDOUT) {
		t.Errorf("connection ended with %q, want ETIMEDOUT (110)", line)
	}
	if got < lo || got > hi {
		t.Errorf("detected after %.2f s, outside the band [%.2f, %.2f] s", got, lo, hi)
	}
	// The process outside the cgroup has no keepalive: still connected.
	o := childOpts(t, out.Pid(), outFD)
	if o.On {
		t.Errorf("outside the cgroup: keepalive on")
	}
	if _, err := unix.Getpeername(mustDup(t, out.Pid(), outFD)); err != nil {
		t.Errorf("outside the cgroup: connection gone: %v", err)
	}
}

func mustDup(t *testing.T, pid, fd int) int {
	t.Helper()
	d, err := sockoptDup(pid, fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(d) })
	return d
}
