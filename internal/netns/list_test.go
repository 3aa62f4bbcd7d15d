package netns

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tcpka/tcpka/internal/nstest"
)

// TestList: named namespaces (one under two names, one with a process in
// it), an unnamed one held by a child, a stale name and a name bound to a
// uts namespace; each network namespace is listed exactly once, the test's
// own (pid 1's) first and marked Host.
func TestList(t *testing.T) {
	if !nstest.Private(t, "ip", "nsenter") {
		return
	}
	nstest.Run(t, "ip", "netns", "add", "tcpka-a")
	nstest.Run(t, "ip", "netns", "add", "tcpka-b")
	nstest.Run(t, "touch", "/run/netns/tcpka-a2")
	nstest.Run(t, "mount", "--bind", "/run/netns/tcpka-a", "/run/netns/tcpka-a2")
	nstest.Run(t, "touch", "/run/netns/tcpka-stale", "/run/netns/tcpka-uts")
	nstest.Run(t, "mount", "--bind", "/proc/self/ns/uts", "/run/netns/tcpka-uts")
	unnamed := nstest.HoldUnnamed(t, 300, 30, 3)
	inB := nstest.HoldNamed(t, "tcpka-b")

	l, err := List(DefaultRunDir, "/proc")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID    string
		Names []string
		Pids  []int
		Host  bool
		Err   bool
	}
	id := func(spec string) string {
		ns, err := Resolve(spec, DefaultRunDir, "/proc")
		if err != nil {
			t.Fatal(err)
		}
		defer ns.Close()
		return ns.ID()
	}
	var got []row
	for _, n := range l.Namespaces {
		r := row{ID: n.ID(), Names: n.Names, Host: n.Host, Err: n.Err != nil}
		// The test's own namespace also holds tools the test started
		// (ip, nsenter, sh); keep pid 1 and the holders, which are known.
		for _, p := range n.Pids {
			if p == 1 || p == unnamed || p == inB {
				r.Pids = append(r.Pids, p)
			}
		}
		got = append(got, r)
	}
	want := []row{
		{ID: id("pid:1"), Pids: []int{1}, Host: true},
		{ID: id("tcpka-a"), Names: []string{"tcpka-a", "tcpka-a2"}},
		{ID: id("tcpka-b"), Names: []string{"tcpka-b"}, Pids: []int{inB}},
		{ID: id("pid:" + strconv.Itoa(unnamed)), Pids: []int{unnamed}},
		{ID: "/run/netns/tcpka-stale", Names: []string{"tcpka-stale"}, Err: true},
		{ID: "/run/netns/tcpka-uts", Names: []string{"tcpka-uts"}, Err: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	for _, n := range l.Namespaces {
		if n.Err != nil {
			if !errors.Is(n.Err, ErrNotNetns) {
				t.Errorf("%s: Err = %v, want ErrNotNetns", n.ID(), n.Err)
			}
			continue
		}
		ns, err := n.Open()
		if err != nil {
			t.Errorf("%s: Open: %v", n.ID(), err)
			continue
		}
		if ns.ID() != n.ID() {
			t.Errorf("Open of %s reached %s", n.ID(), ns.ID())
		}
		ns.Close()
	}
	if p := l.Namespaces[3].Processes(3); len(p) != 1 || p[0].Command != "sleep" {
		t.Errorf("Processes of the unnamed netns = %v, want [{%d sleep}]", p, unnamed)
	}
	if _, err := os.Stat("/run/netns/tcpka-a"); err != nil {
		t.Fatal(err)
	}
}

// TestListHost: the host is PID 1's namespace under the proc root and no
// other; without a readable PID 1, no namespace is the host's (tcpka's own
// included) and HostErr says why. The proc trees link to this process's
// own namespace, so it runs unprivileged.
func TestListHost(t *testing.T) {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Skipf("cannot read this process's network namespace: %v", err)
	}
	for _, tt := range []struct {
		name    string
		pids    []string // each linked to this process's namespace
		host    bool
		hostErr string
	}{
		{"PID 1 readable", []string{"1", "42"}, true, ""},
		{"no PID 1", []string{"42", "self"}, false, `^cannot read PID 1's network namespace: .*/1/ns/net: no such network namespace$`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for _, p := range tt.pids {
				if err := os.MkdirAll(filepath.Join(root, p, "ns"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("/proc/self/ns/net", filepath.Join(root, p, "ns", "net")); err != nil {
					t.Fatal(err)
				}
			}
			l, err := List(filepath.Join(root, "no-netns"), root)
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Namespaces) != 1 || l.Namespaces[0].ID() != self {
				t.Fatalf("List found %+v, want this process's %s once", l.Namespaces, self)
			}
			if got := l.Namespaces[0].Host; got != tt.host {
				t.Errorf("Host = %v, want %v", got, tt.host)
			}
			switch {
			case tt.hostErr == "" && l.HostErr != nil:
				t.Errorf("HostErr = %v, want none", l.HostErr)
			case tt.hostErr != "" && (l.HostErr == nil || !regexp.MustCompile(tt.hostErr).MatchString(l.HostErr.Error())):
				t.Errorf("HostErr = %v, want %s", l.HostErr, tt.hostErr)
			}
		})
	}
}
