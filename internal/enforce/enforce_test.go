package enforce

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/tcpka/tcpka/internal/enforce/enforcetest"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/testkit"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	if os.Getenv(enforcetest.HelperEnv) != "" {
		enforcetest.RunHelper()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func settings(t, i, p int) keepalive.Settings {
	return keepalive.Settings{Time: t, Intvl: i, Probes: p}
}

func TestInstructionsRoundTrip(t *testing.T) {
	withUT := settings(2, 1, 3)
	withUT.UserTimeout = 5 * time.Second
	for _, s := range []keepalive.Settings{settings(2, 1, 3), settings(300, 30, 5), settings(32767, 32767, 127), settings(60, 0, 0), settings(0, 0, 4), withUT} {
		insns, err := Instructions(s)
		if err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		if n := len(insns); n > 48 {
			t.Errorf("%+v: %d instructions, want at most 48", s, n)
		}
		got, err := Decode(insns)
		if err != nil || got != s {
			t.Errorf("Decode(Instructions(%+v)) = %+v, %v", s, got, err)
		}
	}
	if n := len(must(Instructions(settings(2, 1, 3)))); n != 38 {
		t.Errorf("full profile: %d instructions, want 38", n)
	}
}

func must(insns asm.Instructions, err error) asm.Instructions {
	if err != nil {
		panic(err)
	}
	return insns
}

func TestInstructionsRefuseBadValues(t *testing.T) {
	all := settings
	for _, tt := range []struct {
		s    keepalive.Settings
		want string
	}{
		{keepalive.Settings{}, "sets none"},
		{keepalive.Settings{Retries2: 8}, "sets none"}, // not a socket option
		{all(32768, 1, 1), "time 32768 s is out of range: must be 1..32767 s"},
		{all(1, -1, 3), "interval -1 s is out of range: must be 1..32767 s"},
		{all(1, 1, 128), "probes 128 is out of range: must be 1..127"},
		{all(-1, 1, 1), "time -1 s is out of range"},
		{keepalive.Settings{UserTimeout: -time.Second}, "user_timeout -1000 ms is out of range"},
	} {
		_, err := Instructions(tt.s)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Instructions(%+v) = %v, want error with %q", tt.s, err, tt.want)
		}
	}
}

func TestDecodeRefusesOtherPrograms(t *testing.T) {
	other := asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()}
	if _, err := Decode(other); !errors.Is(err, ErrNotOurs) {
		t.Errorf("Decode(other) = %v, want ErrNotOurs", err)
	}
}

func TestCheckRelease(t *testing.T) {
	for rel, ok := range map[string]bool{
		"6.18.44-fc-v782": true, "5.9.0": true, "5.10.0-28-amd64": true, "5.8.18": false,
		"4.19.0-26-amd64": false, "5.4.0-150-generic": false, "10.0": true,
	} {
		err := CheckRelease(rel)
		if ok != (err == nil) {
			t.Errorf("CheckRelease(%q) = %v", rel, err)
		}
		if !ok && !errors.Is(err, ErrKernelTooOld) {
			t.Errorf("CheckRelease(%q) = %v, want ErrKernelTooOld", rel, err)
		}
	}
	if err := CheckRelease("garbage"); err == nil {
		t.Error("CheckRelease(garbage) = nil")
	}
}

func TestCgroup2Mount(t *testing.T) {
	for _, tt := range []struct{ file, mp, root string }{
		{"mountinfo-hybrid", "/sys/fs/cgroup/unified", "/"},
		{"mountinfo-unified", "/sys/fs/cgroup", "/"},
		{"mountinfo-container", "/sys/fs/cgroup", "/kubepods/pod1"},
	} {
		f, err := os.Open(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		mp, root, err := Cgroup2Mount(f)
		f.Close()
		if err != nil || mp != tt.mp || root != tt.root {
			t.Errorf("%s: got %q %q %v, want %q %q", tt.file, mp, root, err, tt.mp, tt.root)
		}
	}
	f, _ := os.Open("testdata/mountinfo-v1")
	defer f.Close()
	if _, _, err := Cgroup2Mount(f); !errors.Is(err, ErrNoCgroup2) {
		t.Errorf("v1 only: %v, want ErrNoCgroup2", err)
	}
}

func TestNormalizeUnit(t *testing.T) {
	for in, want := range map[string]string{
		"nginx": "nginx.service", "nginx.service": "nginx.service", "getty@tty1.service": "getty@tty1.service",
		"run-u12.scope": "run-u12.scope", "system.slice": "", "a b": "", "x.socket": "", "": "",
	} {
		got, err := NormalizeUnit(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("NormalizeUnit(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestOpenCgroupRefusesOtherFS(t *testing.T) {
	_, err := OpenCgroup(t.TempDir())
	if !errors.Is(err, ErrNoCgroup2) {
		t.Errorf("OpenCgroup(tempdir) = %v, want ErrNoCgroup2", err)
	}
	_, err = OpenCgroup("/nonexistent-tcpka")
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("OpenCgroup(missing) = %v", err)
	}
}

// TestVerifierAccepts loads the program for real (root) and counts the
// instructions the kernel reports.
func TestVerifierAccepts(t *testing.T) {
	testkit.NeedRoot(t, "loading a BPF program")
	if err := CheckKernel(); err != nil {
		t.Skip(err)
	}
	prog, err := Load(settings(2, 1, 3))
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		t.Fatal(err)
	}
	insns, err := info.Instructions()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Decode(insns); err != nil || got != settings(2, 1, 3) {
		t.Errorf("decode the loaded program: %+v, %v", got, err)
	}
	if info.Type != ebpf.SockOps {
		t.Errorf("type %v", info.Type)
	}
}

// TestCgroupByIDSearchesDeep: a service's cgroup sits levels below the
// mount, after the files of each level (cgroup.procs, cpu.max...); the
// lookup by id (when a record is missing) must descend past them.
func TestCgroupByIDSearchesDeep(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "system.slice", "myapp.service")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cgroup.procs", "cpu.max", filepath.Join("system.slice", "cgroup.procs")} {
		os.WriteFile(filepath.Join(root, f), nil, 0o644)
	}
	var st unix.Stat_t
	if err := unix.Stat(deep, &st); err != nil {
		t.Fatal(err)
	}
	if got := cgroupByID(root, st.Ino); got != deep {
		t.Errorf("cgroupByID = %q, want %q", got, deep)
	}
	if got := cgroupByID(root, st.Ino+12345); got != "" {
		t.Errorf("cgroupByID(unknown id) = %q, want \"\"", got)
	}
}
