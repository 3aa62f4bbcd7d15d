package bootcfg

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
	"github.com/tcpka/tcpka/internal/testkit"
)

// These tests run the real loaders. They write sysctls, so every run is
// inside a scratch network namespace (unshare -n): the host's values are
// never touched. They need root.

func needRoot(t *testing.T) {
	t.Helper()
	testkit.NeedRoot(t, "loads sysctls inside a scratch network namespace (unshare -n)")
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux)")
	}
}

// systemdSysctl finds the systemd-sysctl binary, or skips.
func systemdSysctl(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/lib/systemd/systemd-sysctl", "/usr/lib/systemd/systemd-sysctl"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("systemd-sysctl is not installed (systemd package)")
	return ""
}

func procpsSysctl(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sysctl")
	if err != nil {
		t.Skip("procps sysctl is not installed (procps package)")
	}
	return p
}

const readBack = `cat /proc/sys/net/ipv4/tcp_keepalive_time /proc/sys/net/ipv4/tcp_keepalive_intvl /proc/sys/net/ipv4/tcp_keepalive_probes /proc/sys/net/ipv4/tcp_retries2`

// inScratchNetns runs script with sh in a new network namespace (and,
// with mountNS, a private mount namespace) and returns the values of the
// keys tcpka manages it reads back at the end, and the loader's stderr.
func inScratchNetns(t *testing.T, mountNS bool, script string, args ...string) (keepalive.Settings, string) {
	t.Helper()
	flags := []string{"-n"}
	if mountNS {
		flags = append(flags, "-m", "--propagation", "private")
	}
	cmd := exec.Command("unshare", append(append(flags, "sh", "-c", script+"\n"+readBack, "sh"), args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("unshare %v: %v\nstdout: %s\nstderr: %s", flags, err, stdout.String(), stderr.String())
	}
	f := strings.Fields(stdout.String())
	if len(f) < len(sysctl.Keys()) {
		t.Fatalf("read back %q", stdout.String())
	}
	var v keepalive.Settings
	for i, k := range sysctl.Keys() {
		n, err := strconv.Atoi(f[len(f)-len(sysctl.Keys())+i])
		if err != nil {
			t.Fatalf("read back %q: %v", stdout.String(), err)
		}
		k.Set(&v, n)
	}
	return v, stderr.String()
}

// TestLoaderRoundTrip renders every shipped profile and loads it with
// systemd-sysctl FILE and with sysctl -p FILE: /proc/sys must then hold the
// profile's values (keys it leaves unset keep the defaults of the new netns).
func TestLoaderRoundTrip(t *testing.T) {
	testkit.Slow(t, "runs the real sysctl loaders")
	needRoot(t)
	loaders := map[string]string{}
	for name, find := range map[string]func(*testing.T) string{"systemd-sysctl": systemdSysctl, "sysctl -p": procpsSysctl} {
		t.Run("find "+name, func(t *testing.T) { loaders[name] = find(t) })
	}
	all, err := profile.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		file := filepath.Join(t.TempDir(), DropInName)
		if err := os.WriteFile(file, Render(p), 0o644); err != nil {
			t.Fatal(err)
		}
		want := p.Applied(keepalive.KernelDefaults)
		for name, bin := range loaders {
			t.Run(p.Name+"/"+name, func(t *testing.T) {
				script := `"$1" "$2" >/dev/null`
				if name == "sysctl -p" {
					script = `"$1" -p "$2" >/dev/null`
				}
				got, stderr := inScratchNetns(t, false, script, bin, file)
				if stderr != "" {
					t.Errorf("%s complained: %s", name, stderr)
				}
				if got != want {
					t.Errorf("%s %s: /proc/sys has %+v, profile %s wants %+v", name, file, got, p.Name, want)
				}
				t.Logf("%-14s %-15s -> %d %d %d", name, p.Name, got.Time, got.Intvl, got.Probes)
			})
		}
	}
}

// TestResolveMatchesRealLoaders mounts each fixture tree over the real
// sysctl.d directories in a private mount namespace, runs the loaders the
// way boot does (systemd-sysctl with no argument, sysctl --system) in a
// scratch network namespace, and checks that Resolve predicted what they
// set.
func TestResolveMatchesRealLoaders(t *testing.T) {
	testkit.Slow(t, "runs the real sysctl loaders")
	needRoot(t)
	sd, ps := systemdSysctl(t), procpsSysctl(t)
	if _, err := os.Stat(SysctlConf); err != nil {
		t.Skipf("needs an existing %s to bind-mount the fixture over", SysctlConf)
	}
	for _, tree := range []string{"testdata/override", "testdata/debian", "testdata/empty"} {
		t.Run(tree, func(t *testing.T) {
			abs, _ := filepath.Abs(tree)
			r, err := Resolve(abs)
			if err != nil {
				t.Fatal(err)
			}
			// The loaders will apply every line of the tree: keep them to
			// the per-netns keepalive keys, so nothing global is written.
			srcs := append([]*Source(nil), r.Files...)
			if r.SysctlConf != nil {
				srcs = append(srcs, r.SysctlConf)
			}
			for _, f := range srcs {
				for _, a := range f.Assignments {
					if !strings.HasPrefix(a.Key, "net/ipv4/tcp_keepalive_") {
						t.Fatalf("%s sets %s: fixture trees may only set the keepalive keys", a.Where(), a.Key)
					}
				}
			}
			var want [2]keepalive.Settings
			for _, k := range sysctl.Keys() {
				v := r.Lookup(k)
				for i, a := range []*Assignment{v.Systemd, v.Procps} {
					n := k.Get(keepalive.KernelDefaults)
					if a != nil {
						if n, err = a.Int(); err != nil {
							t.Fatal(err)
						}
					}
					k.Set(&want[i], n)
				}
			}
			setup := fmt.Sprintf(`set -e
T=%q
for d in /etc/sysctl.d /usr/lib/sysctl.d; do mount -t tmpfs tcpka-test "$d"; done
mount -t tmpfs tcpka-test /run; mkdir /run/sysctl.d
mount -t tmpfs tcpka-test /usr/local/lib; mkdir /usr/local/lib/sysctl.d
if [ ! -L /lib ] && [ -d /lib/sysctl.d ]; then mount -t tmpfs tcpka-test /lib/sysctl.d; fi
for d in etc/sysctl.d run/sysctl.d usr/local/lib/sysctl.d usr/lib/sysctl.d; do
	if [ -d "$T/$d" ]; then cp -a "$T/$d/." "/$d/"; fi
done
if [ -f "$T/etc/sysctl.conf" ]; then mount --bind "$T/etc/sysctl.conf" /etc/sysctl.conf; else mount --bind /dev/null /etc/sysctl.conf; fi
set +e
`, abs)
			got, _ := inScratchNetns(t, true, setup+`"$1" --prefix=/net/ipv4 >/dev/null 2>&1`, sd)
			if got != want[0] {
				t.Errorf("systemd-sysctl set %+v, Resolve predicted %+v", got, want[0])
			}
			got, _ = inScratchNetns(t, true, setup+`"$1" --system --pattern '^net\.ipv4\.tcp_keepalive_' >/dev/null 2>&1`, ps)
			if got != want[1] {
				t.Errorf("sysctl --system set %+v, Resolve predicted %+v", got, want[1])
			}
			t.Logf("systemd-sysctl %+v, sysctl --system %+v: as resolved", want[0], want[1])
		})
	}
}
