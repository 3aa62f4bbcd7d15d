package enforce

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/enforce/enforcetest"
	"github.com/tcpka/tcpka/internal/sockopt"
	"github.com/tcpka/tcpka/internal/testkit"
	"golang.org/x/sys/unix"
)

// childOpts reads the keepalive options of fd in process pid.
func childOpts(t *testing.T, pid, fd int) sockopt.Options {
	t.Helper()
	dup, err := sockopt.Dup(pid, fd)
	if err != nil {
		t.Fatalf("dup fd %d of %d: %v", fd, pid, err)
	}
	defer unix.Close(dup)
	o, err := sockopt.Get(dup)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func connOpts(t *testing.T, c *net.TCPConn) sockopt.Options {
	t.Helper()
	rc, _ := c.SyscallConn()
	var o sockopt.Options
	var err error
	_ = rc.Control(func(fd uintptr) { o, err = sockopt.Get(int(fd)) })
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func fdField(t *testing.T, line string, idx int) int {
	t.Helper()
	f := strings.Fields(line)
	if len(f) <= idx {
		t.Fatalf("helper said %q", line)
	}
	n, err := strconv.Atoi(f[idx])
	if err != nil {
		t.Fatalf("helper said %q", line)
	}
	return n
}

func wantKA(t *testing.T, what string, o sockopt.Options, on bool, idle, intvl, cnt int) {
	t.Helper()
	k := o.Settings
	if o.On != on || on && (k.Time != idle || k.Intvl != intvl || k.Probes != cnt) {
		t.Errorf("%s: keepalive=%v %d/%d/%d, want keepalive=%v %d/%d/%d", what, o.On, k.Time, k.Intvl, k.Probes, on, idle, intvl, cnt)
	}
}

// TestCgroupAttach: processes in the test cgroup get the values on the
// connections they make and accept after the attach; processes outside do
// not; List names the cgroup; Remove detaches and removes the pin.
func TestCgroupAttach(t *testing.T) {
	if !enforcetest.InScratchNetns(t) {
		return
	}
	if err := CheckKernel(); err != nil {
		t.Skip(err)
	}
	mp := enforcetest.Cgroup2Mount(t)
	cg, err := OpenCgroup(enforcetest.Cgroup(t))
	if err != nil {
		t.Fatal(err)
	}
	st := Store{BPFRoot: enforcetest.BPFFS(t), RunDir: t.TempDir(), Cgroup2: mp}
	res, err := st.Attach(cg, "test-213", settings(2, 1, 3), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != "attached" || res.Insns != 38 {
		t.Errorf("Attach: %s, %d instructions", res.Action, res.Insns)
	}
	echo := enforcetest.Echo(t)

	// Inside: connect out, and accept a connection from outside.
	in := enforcetest.Start(t, cg.Path, "dial:"+echo, "listen:127.0.0.1:0", "accept")
	dialFD := fdField(t, in.Next(t), 1)
	lline := in.Next(t)
	_ = fdField(t, lline, 2)
	d := net.Dialer{KeepAlive: -1}
	c, err := d.Dial("tcp", strings.Fields(lline)[3])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	accFD := fdField(t, in.Next(t), 1)
	wantKA(t, "connect inside the cgroup", childOpts(t, in.Pid(), dialFD), true, 2, 1, 3)
	wantKA(t, "accept inside the cgroup", childOpts(t, in.Pid(), accFD), true, 2, 1, 3)
	wantKA(t, "connect from outside", connOpts(t, c.(*net.TCPConn)), false, 0, 0, 0)
	out := enforcetest.Start(t, "", "dial:"+echo)
	wantKA(t, "connect by a process outside", childOpts(t, out.Pid(), fdField(t, out.Next(t), 1)), false, 0, 0, 0)

	list, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Cgroup != cg.Path || list[0].Settings != settings(2, 1, 3) || list[0].Profile != "test-213" ||
		list[0].Detached || time.Since(list[0].Attached) > time.Minute {
		t.Fatalf("List = %+v", list)
	}
	// tcpka show counts live attachments with a Store that has no Cgroup2.
	if n, err := (Store{BPFRoot: st.BPFRoot, RunDir: st.RunDir}).Live(); err != nil || n != 1 {
		t.Errorf("Live without Cgroup2 = %d, %v; want 1", n, err)
	}

	// Same values again: nothing changes. New values: the link's program is replaced.
	if res, err := st.Attach(cg, "test-213", settings(2, 1, 3), false); err != nil || res.Action != "unchanged" {
		t.Errorf("second Attach: %s, %v", res.Action, err)
	}
	if res, err := st.Attach(cg, "test-313", settings(3, 1, 3), false); err != nil || res.Action != "replaced" || *res.Previous != settings(2, 1, 3) {
		t.Errorf("third Attach: %+v, %v", res, err)
	}
	in2 := enforcetest.Start(t, cg.Path, "dial:"+echo)
	wantKA(t, "connect after replace", childOpts(t, in2.Pid(), fdField(t, in2.Next(t), 1)), true, 3, 1, 3)

	removed, err := st.Remove(cg.Path)
	if err != nil || len(removed) != 1 {
		t.Fatalf("Remove: %v %v", removed, err)
	}
	if list, err := st.List(); err != nil || len(list) != 0 {
		t.Errorf("List after Remove = %+v, %v", list, err)
	}
	in3 := enforcetest.Start(t, cg.Path, "dial:"+echo)
	wantKA(t, "connect after remove", childOpts(t, in3.Pid(), fdField(t, in3.Next(t), 1)), false, 0, 0, 0)
	if _, err := st.Remove(cg.Path); !errors.Is(err, ErrNotEnforced) {
		t.Errorf("second Remove: %v, want ErrNotEnforced", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(st.RunDir, "tcpka", "enforce")); len(ents) != 0 {
		t.Errorf("records left: %v", ents)
	}
}

// TestCgroupGone: when the cgroup is removed (systemd does it at every
// restart) the pinned link applies to nothing; List says so, and attaching
// to a new cgroup at the same path cleans the stale pin.
func TestCgroupGone(t *testing.T) {
	if !enforcetest.InScratchNetns(t) {
		return
	}
	if err := CheckKernel(); err != nil {
		t.Skip(err)
	}
	mp := enforcetest.Cgroup2Mount(t)
	dir := enforcetest.Cgroup(t)
	cg, err := OpenCgroup(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := Store{BPFRoot: enforcetest.BPFFS(t), RunDir: t.TempDir(), Cgroup2: mp}
	if _, err := st.Attach(cg, "p", settings(2, 1, 3), false); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	var list []Attachment
	testkit.Eventually(2*time.Second, func() bool {
		list, err = st.List()
		return err != nil || (len(list) == 1 && list[0].Detached)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !list[0].Detached || list[0].Cgroup != dir {
		t.Fatalf("List after rmdir = %+v", list)
	}
	if n, err := (Store{BPFRoot: st.BPFRoot, RunDir: st.RunDir}).Live(); err != nil || n != 0 {
		t.Errorf("Live without Cgroup2 after rmdir = %d, %v; want 0", n, err)
	}
	// The "restart": a new cgroup at the same path.
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cg2, err := OpenCgroup(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Attach(cg2, "p", settings(2, 1, 3), false)
	if err != nil || res.Action != "attached" || len(res.Stale) != 1 {
		t.Fatalf("Attach on the new cgroup: %+v, %v", res, err)
	}
	if list, _ := st.List(); len(list) != 1 || list[0].Detached {
		t.Errorf("List = %+v, want one live attachment", list)
	}
	if _, err := st.Remove(dir); err != nil {
		t.Fatal(err)
	}
}

var sockoptDup = sockopt.Dup
