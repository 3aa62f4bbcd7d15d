// Package container tests the container image that deploy/container/build
// makes: it builds the image into a throwaway podman store, runs tcpka in
// it, and applies a profile from inside a container joined to a scratch
// network namespace. Nothing is left in /var/lib/containers or in the
// host's cgroups, and the host's sysctls are never written.
package container

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/sysctl"
	"github.com/tcpka/tcpka/internal/testkit"
	"github.com/tcpka/tcpka/systemd"
)

// maxImageBytes is the size goal for the image.
const maxImageBytes = 15 << 20

// podman runs podman against a store in a temporary directory, with the
// settings this kind of host needs (measured here: runc, the cgroupfs
// manager, explicit ulimits) and every container's cgroups below a parent
// named after the test, removed afterwards.
type podman struct {
	t            *testing.T
	globalOpts   []string
	cgroupParent string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	testkit.NeedRoot(t, "podman with a private store, and a scratch netns for apply")
	for _, tool := range []string{"podman", "runc", "unshare", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (CI installs podman and runc with apt)", tool)
		}
	}
	// podman's build writes a blob-info cache to /var/lib/containers/cache
	// whatever --root says; remove it afterwards if we created it.
	const varLib = "/var/lib/containers"
	if _, err := os.Stat(varLib); os.IsNotExist(err) {
		t.Cleanup(func() { os.RemoveAll(varLib) })
	}
	dir, err := os.MkdirTemp("", "tcpka-podman-")
	if err != nil {
		t.Fatal(err)
	}
	p := &podman{
		t: t,
		globalOpts: []string{
			"--root", filepath.Join(dir, "root"),
			"--runroot", filepath.Join(dir, "run"),
			"--tmpdir", filepath.Join(dir, "tmp"),
			"--storage-driver", "vfs",
			"--cgroup-manager", "cgroupfs",
			"--runtime", "runc",
			"--events-backend", "file",
		},
		cgroupParent: fmt.Sprintf("/tcpka-test-%d", os.Getpid()),
	}
	t.Cleanup(func() {
		exec.Command("podman", append(p.globalOpts, "rm", "--all", "--force")...).Run()
		exec.Command("podman", append(p.globalOpts, "rmi", "--all", "--force")...).Run()
		unmountBelow(t, dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing the podman store: %v", err)
		}
		removeCgroups(t, p.cgroupParent)
	})
	return p
}

func (p *podman) cmd(args ...string) *exec.Cmd {
	return exec.Command("podman", append(append([]string{}, p.globalOpts...), args...)...)
}

// run runs a container of image with args and returns its stdout, stderr
// and exit code.
func (p *podman) run(image string, runOpts []string, args ...string) (string, string, int) {
	p.t.Helper()
	all := []string{"run", "--rm",
		"--cgroup-parent", p.cgroupParent,
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}
	all = append(all, runOpts...)
	all = append(all, image)
	all = append(all, args...)
	c := p.cmd(all...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		p.t.Fatalf("podman run: %v", err)
	}
	return stdout.String(), stderr.String(), code
}

// unmountBelow unmounts anything podman left mounted under dir.
func unmountBelow(t *testing.T, dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		f := strings.Fields(lines[i])
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			if out, err := exec.Command("umount", "-l", f[4]).CombinedOutput(); err != nil {
				t.Errorf("umount %s: %v: %s", f[4], err, out)
			}
		}
	}
}

// removeCgroups removes the test's cgroup parent from every hierarchy,
// deepest directories first.
func removeCgroups(t *testing.T, parent string) {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + parent)
	if d := "/sys/fs/cgroup" + parent; isDir(d) {
		dirs = append(dirs, d)
	}
	for _, top := range dirs {
		var all []string
		filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				all = append(all, path)
			}
			return nil
		})
		for i := len(all) - 1; i >= 0; i-- {
			if err := os.Remove(all[i]); err != nil {
				t.Errorf("removing cgroup %s: %v", all[i], err)
			}
		}
	}
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// build runs deploy/container/build with the throwaway store and returns
// the VERSION tag it printed.
func (p *podman) build(version string) string {
	p.t.Helper()
	c := exec.Command("./build", version)
	c.Env = append(os.Environ(), "PODMAN_OPTS="+strings.Join(p.globalOpts, " "), "BUILDER=podman")
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		p.t.Fatalf("deploy/container/build: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// hostValues reads the sysctls tcpka manages in the test's own netns.
func hostValues(t *testing.T) keepalive.Settings {
	t.Helper()
	v, err := sysctl.NewFS("").Read()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestImage(t *testing.T) {
	testkit.Slow(t, "builds and runs the container image")
	p := newPodman(t)
	hostBefore := hostValues(t)
	defer func() {
		if after := hostValues(t); after != hostBefore {
			t.Errorf("host keepalive sysctls changed: %+v -> %+v", hostBefore, after)
		}
	}()

	tag := p.build("1.2.3-test")
	if tag != "localhost/tcpka:1.2.3-test" {
		t.Fatalf("build printed %q, want localhost/tcpka:1.2.3-test", tag)
	}

	t.Run("tags labels size", func(t *testing.T) {
		out, err := p.cmd("image", "inspect", "--format",
			`{{.Size}} {{index .Labels "org.opencontainers.image.version"}} {{index .Labels "org.opencontainers.image.revision"}} {{index .Labels "org.opencontainers.image.source"}} {{json .Config.Entrypoint}}`,
			"localhost/tcpka:latest").Output()
		if err != nil {
			t.Fatalf("image inspect localhost/tcpka:latest: %v", err)
		}
		f := strings.Fields(string(out))
		if len(f) != 5 {
			t.Fatalf("image inspect printed %q", out)
		}
		size, _ := strconv.Atoi(f[0])
		t.Logf("image size: %d bytes (%.2f MB)", size, float64(size)/1e6)
		if size <= 0 || size >= maxImageBytes {
			t.Errorf("image size %d bytes, want under %d", size, maxImageBytes)
		}
		rev, _ := exec.Command("git", "rev-parse", "HEAD").Output()
		want := []string{"1.2.3-test", strings.TrimSpace(string(rev)), "https://github.com/tcpka/tcpka", `["` + systemd.BinPath + `"]`}
		for i, w := range want {
			if f[i+1] != w {
				t.Errorf("label/entrypoint %d = %q, want %q", i, f[i+1], w)
			}
		}
	})

	t.Run("show --json", func(t *testing.T) {
		stdout, stderr, code := p.run(tag, []string{"--network", "none"}, "show", "--json")
		if code != 0 {
			t.Fatalf("show --json exited %d: %s", code, stderr)
		}
		var got struct {
			Netns          string `json:"netns"`
			TimeS          int    `json:"time_s"`
			DetectionS     int    `json:"detection_s"`
			KernelDefaults bool   `json:"kernel_defaults"`
		}
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatalf("show --json: %v\n%s", err, stdout)
		}
		// A container's own netns starts at the kernel defaults.
		if !got.KernelDefaults || got.TimeS != 7200 || got.DetectionS != 7875 || !strings.HasPrefix(got.Netns, "net:[") {
			t.Errorf("show --json in a fresh netns = %+v, want the kernel defaults", got)
		}
	})

	t.Run("apply in a scratch netns", func(t *testing.T) {
		nsPath := scratchNetns(t)
		prof := writeProfile(t, "name: fleet\ntime: 123s\ninterval: 45s\nprobes: 6\nretries2: 9\n")
		opts := []string{"--network", "ns:" + nsPath, "--cap-add", "NET_ADMIN", "-v", prof + ":/etc/tcpka/profile.yaml:ro"}

		// With /proc/sys read-only (every runtime's default) apply says
		// why and writes nothing.
		_, stderr, code := p.run(tag, opts, "apply", "/etc/tcpka/profile.yaml")
		if code != 1 || !strings.Contains(stderr, "tcpka: apply: /proc/sys is mounted read-only") {
			t.Errorf("apply with read-only /proc/sys: exit %d, stderr %q; want exit 1 and the read-only explanation", code, stderr)
		}
		if got := readNetns(t, nsPath); got != "7200 75 9 15" {
			t.Fatalf("after a refused apply the scratch netns has %s, want 7200 75 9 15", got)
		}

		opts = append(opts, "--security-opt", "unmask=/proc/sys")
		stdout, stderr, code := p.run(tag, opts, "apply", "/etc/tcpka/profile.yaml", "--json")
		if code != 0 {
			t.Fatalf("apply exited %d: %s", code, stderr)
		}
		var res struct {
			Applied bool `json:"applied"`
		}
		if err := json.Unmarshal([]byte(stdout), &res); err != nil || !res.Applied {
			t.Errorf("apply --json = %s (%v), want applied true", stdout, err)
		}
		if got := readNetns(t, nsPath); got != "123 45 6 9" {
			t.Errorf("scratch netns after apply in the container: %s, want 123 45 6 9", got)
		}
	})

	t.Run("watch as the DaemonSet runs it", func(t *testing.T) { testDaemonSetLike(t, p, tag) })
}

// TestImage's last part runs the image the way deploy/kubernetes's
// DaemonSet does (read-only root, caps drop ALL add NET_ADMIN, uid 0, the
// profile mounted at /etc/tcpka, /proc/sys/net bind-mounted at
// /host/proc/sys/net, a tmpfs /run), in a scratch netns standing in for
// the node's: watch applies, corrects a drift, and stops with exit 0.
func testDaemonSetLike(t *testing.T, p *podman, tag string) {
	nsPath := scratchNetns(t)
	prof := writeProfile(t, "name: fleet\ntime: 300s\ninterval: 30s\nprobes: 5\nretries2: 8\n")
	name := fmt.Sprintf("tcpka-test-watch-%d", os.Getpid())
	args := append(append([]string{}, p.globalOpts...), "run", "--rm", "--name", name,
		"--cgroup-parent", p.cgroupParent,
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
		"--network", "ns:"+nsPath,
		"--read-only", "--read-only-tmpfs=false", "--tmpfs", "/run",
		"--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "--user", "0",
		"-v", prof+":/etc/tcpka/profile.yaml:ro",
		"-v", "/proc/sys/net:/host/proc/sys/net",
		tag, "watch", "/etc/tcpka/profile.yaml", "--interval", "1s", "--log-format", "json", "--proc-root", "/host/proc")
	c := exec.Command("podman", args...)
	// The log goes to a file: conmon may hold a pipe open after podman
	// exits, and Wait would wait for it.
	logFile, err := os.Create(filepath.Join(t.TempDir(), "watch.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	c.Stdout, c.Stderr = logFile, logFile
	c.WaitDelay = 2 * time.Second
	logs := fileString(logFile.Name())
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	defer func() {
		select {
		case <-exited:
		default:
			c.Process.Kill()
			<-exited
		}
	}()
	waitValues := func(want string) {
		t.Helper()
		if !testkit.Eventually(15*time.Second, func() bool { return readNetns(t, nsPath) == want }) {
			t.Fatalf("netns holds %s, want %s; container log:\n%s", readNetns(t, nsPath), want, logs.String())
		}
	}
	waitValues("300 30 5 8")
	if out, err := exec.Command("nsenter", "--net="+nsPath, "sh", "-c", "echo 7200 > /proc/sys/net/ipv4/tcp_keepalive_time && echo 15 > /proc/sys/net/ipv4/tcp_retries2").CombinedOutput(); err != nil {
		t.Fatalf("drift: %v: %s", err, out)
	}
	waitValues("300 30 5 8")
	// The log line follows the write back: give it a moment to land.
	const corrected = `"msg":"drift corrected","key":"net.ipv4.tcp_keepalive_time","from":7200,"to":300`
	if !testkit.Eventually(2*time.Second, func() bool { return strings.Contains(logs.String(), corrected) }) {
		t.Errorf("no correction in the container's log:\n%s", logs.String())
	}
	t0 := time.Now()
	if out, err := p.cmd("stop", "-t", "5", name).CombinedOutput(); err != nil {
		t.Errorf("podman stop: %v: %s", err, out)
	}
	t.Logf("podman stop returned after %v", time.Since(t0).Round(time.Millisecond))

	select {
	case err := <-exited:
		exited <- err // for the deferred check
		if err != nil {
			t.Errorf("the container exited with %v after SIGTERM, want 0\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Errorf("the container still runs 10 s after podman stop")
	}
}

// fileString reads a file each time String is called.
type fileString string

func (f fileString) String() string {
	b, _ := os.ReadFile(string(f))
	return string(b)
}

// waitNetns waits until the holder process has its own netns.
// scratchNetns starts a process in a new network namespace, killed at
// cleanup, and returns the path of that namespace once it exists.
func scratchNetns(t *testing.T) string {
	t.Helper()
	holder := exec.Command("unshare", "-n", "sleep", "120")
	if err := holder.Start(); err != nil {
		t.Fatalf("unshare -n: %v", err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	nsPath := fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid)
	waitNetns(t, nsPath)
	return nsPath
}

// writeProfile writes a profile file for the container to mount.
func writeProfile(t *testing.T, text string) string {
	t.Helper()
	prof := filepath.Join(t.TempDir(), "profile.yaml")
	if err := os.WriteFile(prof, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return prof
}

func waitNetns(t *testing.T, nsPath string) {
	t.Helper()
	self, _ := os.Readlink("/proc/self/ns/net")
	if !testkit.Eventually(5*time.Second, func() bool {
		l, err := os.Readlink(nsPath)
		return err == nil && l != self
	}) {
		t.Fatal("unshare -n did not make a network namespace")
	}
}

// readNetns reads the sysctls tcpka manages in the netns at nsPath.
func readNetns(t *testing.T, nsPath string) string {
	t.Helper()
	out, err := exec.Command("nsenter", "--net="+nsPath, "cat",
		"/proc/sys/net/ipv4/tcp_keepalive_time", "/proc/sys/net/ipv4/tcp_keepalive_intvl", "/proc/sys/net/ipv4/tcp_keepalive_probes",
		"/proc/sys/net/ipv4/tcp_retries2").Output()
	if err != nil {
		t.Fatalf("nsenter: %v", err)
	}
	return strings.Join(strings.Fields(string(out)), " ")
}
