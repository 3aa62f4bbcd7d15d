// Command enforcebench measures tcpka enforce (run it through bench/enforce/run,
// as root, inside unshare -n -m):
//
//   - --pid on a process holding N connections: wall time of tcpka enforce
//     changing all of them, of a second run that changes nothing, of
//     --dry-run, and of ss -tnp listing the same sockets for comparison;
//   - connection setup rate, loopback connect+accept of N connections by a
//     process in a cgroup with the sock_ops program and in one without,
//     alternating;
//   - the program's instruction count.
//
// Every cgroup it makes has "tcpka-bench" in its name and is removed at the
// end; the bpffs it pins in is a private mount that is unmounted.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/tcpka/tcpka/internal/enforce"
	"github.com/tcpka/tcpka/internal/keepalive"
	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "hold":
			hold(os.Args[2], atoi(os.Args[3]))
			return
		case "serve":
			serve(os.Args[2])
			return
		case "connrate":
			connrate(atoi(os.Args[2]), len(os.Args) > 3 && os.Args[3] == "app-keepalive")
			return
		}
	}
	tcpka := flag.String("tcpka", "", "tcpka binary")
	conns := flag.Int("conns", 10000, "connections")
	rounds := flag.Int("rounds", 11, "repetitions of each measurement")
	flag.Parse()
	if err := bench(*tcpka, *conns, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "enforcebench:", err)
		os.Exit(1)
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

// served keeps the accepted connections referenced, so none is closed.
var served []net.Conn

// serve accepts and holds connections forever.
func serve(addr string) {
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		panic(err)
	}
	fmt.Println("ready")
	for {
		c, err := l.Accept()
		if err != nil {
			panic(err)
		}
		served = append(served, c)
	}
}

// hold opens n connections without keepalive to addr and sleeps.
func hold(addr string, n int) {
	d := net.Dialer{KeepAlive: -1}
	var held []net.Conn
	for i := 0; i < n; i++ {
		c, err := d.Dial("tcp4", addr)
		if err != nil {
			panic(fmt.Sprintf("connection %d: %v", i, err))
		}
		held = append(held, c)
	}
	fmt.Println("ready")
	time.Sleep(24 * time.Hour)
	runtime.KeepAlive(held)
}

// connrate connects to and accepts from its own loopback listener n times
// with raw syscalls (no runtime poller in the way), closing each pair with
// a RST so no TIME_WAIT piles up, and prints the connections per second.
// With appKA both ends set the keepalive options themselves (300/30/5), as
// the program does: the cost of keepalive without BPF.
func connrate(n int, appKA bool) {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(runtime.NumCPU() - 1)
	_ = unix.SchedSetaffinity(0, &set)
	ls, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	_ = unix.Bind(ls, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	_ = unix.Listen(ls, 1024)
	sa, _ := unix.Getsockname(ls)
	linger := &unix.Linger{Onoff: 1, Linger: 0}
	start := time.Now()
	for i := 0; i < n; i++ {
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			panic(err)
		}
		if err := unix.Connect(c, sa); err != nil {
			panic(fmt.Sprintf("connect %d: %v", i, err))
		}
		a, _, err := unix.Accept4(ls, unix.SOCK_CLOEXEC)
		if err != nil {
			panic(err)
		}
		if appKA {
			for _, fd := range []int{c, a} {
				_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 300)
				_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 30)
				_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 5)
				_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
			}
		}
		_ = unix.SetsockoptLinger(c, unix.SOL_SOCKET, unix.SO_LINGER, linger)
		_ = unix.SetsockoptLinger(a, unix.SOL_SOCKET, unix.SO_LINGER, linger)
		unix.Close(c)
		unix.Close(a)
	}
	fmt.Printf("%.0f\n", float64(n)/time.Since(start).Seconds())
}

// child starts this binary with args, in cgroup dir if not "", and waits
// for its "ready" line.
func child(cgroup string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command("/proc/self/exe", args...)
	cmd.Stderr = os.Stderr
	if cgroup != "" {
		f, err := os.Open(cgroup)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		cmd.Process.Kill()
		return nil, fmt.Errorf("%v: %q %v", args, line, err)
	}
	go io.Copy(io.Discard, out)
	return cmd, nil
}

// lastCPU is the user+sys time of the last command wall ran.
var lastCPU time.Duration

func wall(name string, args ...string) (time.Duration, string, error) {
	start := time.Now()
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if cmd.ProcessState != nil {
		lastCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		return d, string(out), fmt.Errorf("%s %v: %v: %s", name, args, err, out)
	}
	return d, string(out), nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func bench(tcpka string, n, rounds int) error {
	if tcpka == "" {
		return fmt.Errorf("-tcpka BINARY is required")
	}
	// The holder and the server each need n descriptors.
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	lim.Cur = lim.Max
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < uint64(n+100) {
		return fmt.Errorf("fd limit %d is too low for %d connections (ulimit -Hn): %v", lim.Cur, n, err)
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("ip link set lo up: %v %s", err, out)
	}
	// Enough ports for N held connections plus the rate rounds.
	_ = os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", []byte("10000 65000"), 0)

	// --pid on a process holding n connections.
	srv, err := child("", "serve", "127.0.0.1:7000")
	if err != nil {
		return err
	}
	defer srv.Process.Kill()
	h, err := child("", "hold", "127.0.0.1:7000", strconv.Itoa(n))
	if err != nil {
		return err
	}
	defer h.Process.Kill()
	pid := strconv.Itoa(h.Process.Pid)
	profiles := []string{"aws-nlb", "azure-lb"} // alternate: every run changes all n
	var change, again, dry, ss []float64
	var changeCPU, againCPU, dryCPU, ssCPU []float64
	var changeOut, againOut string
	// warm up: the first run turns keepalive on
	if _, out, err := wall(tcpka, "enforce", profiles[1], "--pid", pid); err != nil {
		return err
	} else if !strings.Contains(out, fmt.Sprintf("changed %d of %d", n, n)) {
		return fmt.Errorf("first run: %s", lastLine(out))
	}
	for i := 0; i < rounds; i++ {
		d, out, err := wall(tcpka, "enforce", profiles[i%2], "--pid", pid, "--override")
		if err != nil {
			return err
		}
		change, changeOut = append(change, d.Seconds()), out
		changeCPU = append(changeCPU, lastCPU.Seconds())
		d, out, err = wall(tcpka, "enforce", profiles[i%2], "--pid", pid)
		if err != nil {
			return err
		}
		again, againOut = append(again, d.Seconds()), out
		againCPU = append(againCPU, lastCPU.Seconds())
		d, _, err = wall(tcpka, "enforce", profiles[(i+1)%2], "--pid", pid, "--override", "--dry-run")
		if err != nil {
			return err
		}
		dry = append(dry, d.Seconds())
		dryCPU = append(dryCPU, lastCPU.Seconds())
		d, _, err = wall("ss", "-tnpH", "state", "established", "sport", "!=", ":7000")
		if err != nil {
			return err
		}
		ss = append(ss, d.Seconds())
		ssCPU = append(ssCPU, lastCPU.Seconds())
	}
	fmt.Printf("\n## tcpka enforce --pid on a process holding %d connections (%d rounds, alternating, medians)\n", n, rounds)
	fmt.Printf("%-58s %10s %16s\n", "command", "wall", "CPU (user+sys)")
	fmt.Printf("%-58s %8.3f s %14.3f s\n", "tcpka enforce PROFILE --pid N --override (changes all)", median(change), median(changeCPU))
	fmt.Printf("%-58s %8.3f s %14.3f s\n", "tcpka enforce PROFILE --pid N (second run, changes none)", median(again), median(againCPU))
	fmt.Printf("%-58s %8.3f s %14.3f s\n", "tcpka enforce PROFILE --pid N --override --dry-run", median(dry), median(dryCPU))
	fmt.Printf("%-58s %8.3f s %14.3f s\n", "ss -tnp (lists the same sockets, for scale)", median(ss), median(ssCPU))
	fmt.Printf("last outputs: %q, %q\n", lastLine(changeOut), lastLine(againOut))
	h.Process.Kill()
	h.Wait()
	srv.Process.Kill()
	srv.Wait()

	// Connection setup rate in a cgroup with and without the program.
	mp, err := cgroup2()
	if err != nil {
		return err
	}
	with := filepath.Join(mp, fmt.Sprintf("tcpka-bench-with-%d", os.Getpid()))
	without := filepath.Join(mp, fmt.Sprintf("tcpka-bench-without-%d", os.Getpid()))
	empty := filepath.Join(mp, fmt.Sprintf("tcpka-bench-empty-%d", os.Getpid()))
	for _, d := range []string{with, without, empty} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
		defer os.Remove(d)
	}
	bpf, err := os.MkdirTemp("", "tcpka-bench-bpffs-")
	if err != nil {
		return err
	}
	defer os.Remove(bpf)
	if err := unix.Mount("bpf", bpf, "bpf", 0, "mode=0700"); err != nil {
		return err
	}
	defer unix.Unmount(bpf, 0)
	run := filepath.Join(bpf + "-run")
	defer os.RemoveAll(run)
	if _, out, err := wall(tcpka, "enforce", "aws-nlb", "--cgroup", with, "--bpf-root", bpf, "--run-dir", run); err != nil {
		return err
	} else if !strings.Contains(out, "attached") {
		return fmt.Errorf("attach: %s", out)
	}
	defer exec.Command(tcpka, "enforce", "--remove", "--cgroup", with, "--bpf-root", bpf, "--run-dir", run).Run()
	// An empty sock_ops program (return 1) on a third cgroup separates the
	// cost of having any program attached from the cost of its setsockopts.
	ep, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SockOps, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()}})
	if err != nil {
		return err
	}
	defer ep.Close()
	el, err := link.AttachCgroup(link.CgroupOptions{Path: empty, Attach: ebpf.AttachCGroupSockOps, Program: ep})
	if err != nil {
		return err
	}
	defer el.Close() // not pinned: closing detaches
	// Three cases, rotated each round so none always goes first.
	type kase struct {
		name, cgroup string
		args         []string
		rates        []float64
		cpu          []float64 // µs of CPU (user+sys) per connection
	}
	cases := []*kase{
		{"without the program", without, nil, nil, nil},
		{"with the sock_ops program (aws-nlb 300/30/5)", with, nil, nil, nil},
		{"with an empty sock_ops program (return 1)", empty, nil, nil, nil},
		{"without; the application sets keepalive itself", without, []string{"app-keepalive"}, nil, nil},
	}
	for i := 0; i < rounds; i++ {
		for j := range cases {
			k := cases[(i+j)%len(cases)]
			cmd := exec.Command("/proc/self/exe", append([]string{"connrate", strconv.Itoa(n)}, k.args...)...)
			f, err := os.Open(k.cgroup)
			if err != nil {
				return err
			}
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
			out, err := cmd.Output()
			f.Close()
			if err != nil {
				return fmt.Errorf("connrate: %v", err)
			}
			r, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
			k.rates = append(k.rates, r)
			cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			k.cpu = append(k.cpu, float64(cpu.Microseconds())/float64(n))
		}
	}
	base, baseCPU := median(cases[0].rates), median(cases[0].cpu)
	fmt.Printf("\n## loopback connect+accept of %d connections by a process in a cgroup (%d rounds each, rotated, medians)\n", n, rounds)
	fmt.Printf("%-48s %9s %8s %13s %8s\n", "case", "conn/s", "vs first", "CPU µs/conn", "vs first")
	for _, k := range cases {
		m, c := median(k.rates), median(k.cpu)
		fmt.Printf("%-48s %9.0f %7.1f%% %13.2f %7.1f%%\n", k.name, m, (m-base)/base*100, c, (c-baseCPU)/baseCPU*100)
	}
	// Paired: each round's ratio to the run without a program next to it.
	paired := func(k *kase) (rate, cpu float64) {
		var r, c []float64
		for i := range k.rates {
			r = append(r, (cases[0].rates[i]-k.rates[i])/cases[0].rates[i]*100)
			c = append(c, (k.cpu[i]-cases[0].cpu[i])/cases[0].cpu[i]*100)
		}
		return median(r), median(c)
	}
	for _, k := range cases[1:] {
		r, c := paired(k)
		fmt.Printf("paired per round, median: %-48s %5.1f %% fewer conn/s, %5.1f %% more CPU/conn\n", k.name, r, c)
	}
	for _, k := range cases {
		fmt.Printf("  %s: conn/s %v\n", k.name, ints(k.rates))
	}

	// Instruction count.
	s := keepalive.Settings{Time: 300, Intvl: 30, Probes: 5}
	insns, _ := enforce.Instructions(s)
	prog, err := enforce.Load(s)
	if err != nil {
		return err
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		return err
	}
	xl, _ := info.Instructions()
	ver, _ := info.VerifiedInstructions()
	fmt.Printf("\n## the sock_ops program\n")
	fmt.Printf("instructions: %d assembled, %d after the verifier's rewrite, %d processed by the verifier\n", len(insns), len(xl), ver)
	return nil
}

func ints(xs []float64) []int {
	var out []int
	for _, x := range xs {
		out = append(out, int(x))
	}
	return out
}

func cgroup2() (string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	mp, _, err := enforce.Cgroup2Mount(strings.NewReader(string(b)))
	return mp, err
}
