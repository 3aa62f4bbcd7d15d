// Command faultbench kills tcpka apply, tcpka install, tcpka uninstall and
// tcpka watch --all-netns (taking over a namespace that appeared after it
// started) at random instants and checks what they leave. Run it through bench/faults/run,
// which puts it in private network, mount and pid namespaces with a tmpfs
// on /run: it writes the sysctls of the namespace it runs in and files
// below /run only.
//
// Each command runs under strace, which delays the exit of every write,
// openat, rename, fsync, unlink and link by -delay, so that a SIGKILL at a
// uniformly random instant of the (measured) run lands between any two of
// them. After each kill it classifies the state (old, new or a mix),
// lets tcpka report and recover it, and counts:
//
//   - unreported mixes: a state that is neither the old nor the new one
//     and that tcpka does not name (check --json has no "interrupted";
//     the install or uninstall that recovers says neither "undo" nor
//     "complete"), or that recovery leaves mixed;
//   - lost originals: the values from before the round not restored by
//     revert; a previous install's or a foreign file's content gone when
//     the interrupted install was undone;
//   - orphan files: anything tcpka leaves in its state directory after a
//     revert, or in the tree after an uninstall, that was not there before
//     the round (backups, temporary files, records).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// traced are the system calls strace delays: every step of an atomic
// write, a sysctl write, a removal and a backup link.
const traced = "write,openat,renameat,renameat2,rename,fsync,unlinkat,linkat"

var keys = []string{"tcp_keepalive_time", "tcp_keepalive_intvl", "tcp_keepalive_probes", "tcp_retries2"}

// triple is the three keepalive values and tcp_retries2, which a profile
// may set too: an apply of such a profile killed after its third write
// leaves the three keepalive values new and tcp_retries2 old, a mix. In a
// profile's values, 0 for tcp_retries2 means the profile leaves it alone.
type triple [4]int

func (t triple) String() string {
	if t[3] == 0 {
		return fmt.Sprintf("%d/%d/%d", t[0], t[1], t[2])
	}
	return fmt.Sprintf("%d/%d/%d retries2 %d", t[0], t[1], t[2], t[3])
}

// holds says whether the kernel values now hold a profile's values want
// (tcp_retries2 only where the profile sets it).
func (now triple) holds(want triple) bool {
	return now[0] == want[0] && now[1] == want[1] && now[2] == want[2] && (want[3] == 0 || now[3] == want[3])
}

type bench struct {
	tcpka   string
	delay   time.Duration
	rng     *rand.Rand
	verbose bool
}

func main() {
	b := &bench{}
	applyN := flag.Int("apply", 1000, "apply kills")
	installN := flag.Int("install", 200, "install kills")
	uninstallN := flag.Int("uninstall", 120, "uninstall kills")
	lateN := flag.Int("late", 60, "kills of watch --all-netns while it takes over a namespace that appeared")
	seed := flag.Uint64("seed", 0, "random seed (0: from the clock)")
	calib := flag.Int("calibrate", 7, "unkilled runs that measure each command's run time")
	flag.StringVar(&b.tcpka, "tcpka", "tcpka", "the tcpka binary")
	flag.DurationVar(&b.delay, "delay", 3*time.Millisecond, "strace delay at the exit of each traced system call")
	flag.BoolVar(&b.verbose, "v", false, "print every round")
	flag.Parse()
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	b.rng = rand.New(rand.NewPCG(*seed, 0x7463706b61))
	fmt.Printf("seed %d, strace delay %s at the exit of %s\n", *seed, b.delay, traced)

	profiles, err := b.profiles()
	if err != nil {
		fail(err)
	}
	var bad bool
	for _, run := range []struct {
		n     int
		kills func(n, calib int, ps []profileJSON) (*counts, error)
	}{{*applyN, b.applyKills}, {*installN, b.installKills}, {*uninstallN, b.uninstallKills}, {*lateN, b.lateKills}} {
		if run.n <= 0 {
			continue
		}
		s, err := run.kills(run.n, *calib, profiles)
		if err != nil {
			fail(err)
		}
		s.print()
		bad = bad || s.bad()
	}
	if bad {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "faultbench:", err)
	os.Exit(2)
}

// counts is what a benchmark found.
type counts struct {
	what                            string
	kills                           int
	unreported, lost, orphans       int
	old, new, mix                   int
	completed                       int // the command exited before the signal
	reported                        int // kills tcpka named (a journal or a pending install)
	misreported, errs               int
	runTime                         time.Duration
	undoFirst, reinstalls, observed int
}

// killed counts one kill; completed: the command exited before it.
func (c *counts) killed(completed bool) {
	c.kills++
	if completed {
		c.completed++
	}
}

// classify counts what a kill left, "old" (all as before), "new" (all
// as the command was writing) or "mix", and returns it.
func (c *counts) classify(asBefore, asWritten bool) string {
	switch {
	case asBefore:
		c.old++
		return "old"
	case asWritten:
		c.new++
		return "new"
	}
	c.mix++
	return "mix"
}

func (c *counts) print() {
	fmt.Printf("%s: %d kills: %d unreported mixes, %d lost originals, %d orphan files\n",
		c.what, c.kills, c.unreported, c.lost, c.orphans)
	fmt.Printf("%s: kills landed: old %d, new %d, mix %d; named by tcpka as interrupted %d; exited before the signal %d; measured run time %s\n",
		c.what, c.old, c.new, c.mix, c.reported, c.completed, c.runTime.Round(time.Millisecond))
	switch c.what {
	case "apply":
		fmt.Printf("apply: rounds that applied another profile before the revert (undo-first): %d\n", c.undoFirst)
	case "install":
		fmt.Printf("install: rounds whose recovery was observed on its own: %d; installed again before uninstall: %d\n", c.observed, c.reinstalls)
	case "uninstall":
		fmt.Printf("uninstall: rounds recovered by an install (the others by an uninstall): %d\n", c.reinstalls)
	}
	if c.misreported > 0 || c.errs > 0 {
		fmt.Printf("%s: %d misreported (check's \"left\" names another state), %d failed commands\n", c.what, c.misreported, c.errs)
	}
}

func (c *counts) bad() bool {
	return c.unreported+c.lost+c.orphans+c.misreported+c.errs > 0
}

func (b *bench) logf(format string, args ...any) {
	if b.verbose {
		fmt.Printf(format+"\n", args...)
	}
}

// anomaly is always printed: it is what the benchmark exists to find.
func anomaly(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "FOUND: "+format+"\n", args...)
}

// run runs tcpka without strace.
func (b *bench) run(args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	cmd := exec.Command(b.tcpka, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func (b *bench) straced(args []string) *exec.Cmd {
	sargs := []string{"-f", "-qq", "-o", "/dev/null", "-e", "trace=" + traced,
		"-e", fmt.Sprintf("inject=%s:delay_exit=%dus", traced, b.delay.Microseconds()), "--", b.tcpka}
	return exec.Command("strace", append(sargs, args...)...)
}

// timed runs tcpka under strace to the end and returns its run time.
func (b *bench) timed(args ...string) (time.Duration, error) {
	cmd := b.straced(args)
	var e bytes.Buffer
	cmd.Stderr = &e
	t0 := time.Now()
	err := cmd.Run()
	if err != nil {
		return 0, fmt.Errorf("strace tcpka %s: %w: %s", strings.Join(args, " "), err, e.String())
	}
	return time.Since(t0), nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// killRun starts tcpka under strace and sends its process SIGKILL at
// instant at after the start; completed says it exited before.
func (b *bench) killRun(args []string, at time.Duration) (completed bool, err error) {
	cmd := b.straced(args)
	if err := cmd.Start(); err != nil {
		return false, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
		return true, nil
	case <-time.After(at):
	}
	// strace's child is tcpka (or, in the first instant, strace's fork
	// about to exec it).
	for {
		if pid := child(cmd.Process.Pid); pid > 0 {
			_ = unix.Kill(pid, unix.SIGKILL)
			break
		}
		select {
		case <-done:
			return true, nil
		case <-time.After(100 * time.Microsecond):
		}
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return false, errors.New("tcpka did not exit within 10 s of SIGKILL")
	}
	return false, nil
}

func child(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}

type profileJSON struct {
	Name     string `json:"name"`
	Time     int    `json:"time_s"`
	Intvl    int    `json:"intvl_s"`
	Probes   int    `json:"probes"`
	Retries2 *int   `json:"retries2"`
}

// profiles lists the shipped profiles that set all three keys.
func (b *bench) profiles() ([]profileJSON, error) {
	out, _, err := b.run("profiles", "--json")
	if err != nil {
		return nil, fmt.Errorf("tcpka profiles --json: %w", err)
	}
	var all struct {
		Profiles []profileJSON `json:"profiles"`
	}
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		return nil, err
	}
	var ps []profileJSON
	for _, p := range all.Profiles {
		if p.Time > 0 && p.Intvl > 0 && p.Probes > 0 {
			ps = append(ps, p)
		}
	}
	if len(ps) < 2 {
		return nil, errors.New("fewer than two shipped profiles set all three keys")
	}
	return ps, nil
}

func (p profileJSON) values() triple {
	t := triple{p.Time, p.Intvl, p.Probes}
	if p.Retries2 != nil {
		t[3] = *p.Retries2
	}
	return t
}

// ---- apply ----

func readKernel() (triple, error) {
	var t triple
	for i, k := range keys {
		b, err := os.ReadFile("/proc/sys/net/ipv4/" + k)
		if err != nil {
			return t, err
		}
		if t[i], err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
			return t, err
		}
	}
	return t, nil
}

// writeKernel writes the three keepalive values of t; tcp_retries2 stays.
func writeKernel(t triple) error {
	for i, k := range keys[:3] {
		if err := os.WriteFile("/proc/sys/net/ipv4/"+k, []byte(strconv.Itoa(t[i])+"\n"), 0); err != nil {
			return err
		}
	}
	return nil
}

// startValues draws values that differ, key by key, from every profile,
// so old, new and a mix are told apart.
func (b *bench) startValues(ps []profileJSON) triple {
	lo := triple{30, 5, 2}
	hi := triple{20000, 200, 20}
	var t triple
	for i := range 3 {
	again:
		t[i] = lo[i] + b.rng.IntN(hi[i]-lo[i])
		for _, p := range ps {
			if p.values()[i] == t[i] {
				goto again
			}
		}
	}
	return t
}

type checkOut struct {
	Interrupted *struct {
		Op   string `json:"op"`
		Left string `json:"left"`
	} `json:"interrupted"`
}

func (b *bench) applyKills(n, calib int, ps []profileJSON) (*counts, error) {
	c := &counts{what: "apply"}
	runDir := "/run/faults-apply"
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, err
	}
	host := [2]string{"--run-dir", runDir}
	// Measure: apply from fresh values, then revert.
	var ds []time.Duration
	for i := 0; i < calib; i++ {
		if err := writeKernel(b.startValues(ps)); err != nil {
			return nil, fmt.Errorf("write the scratch namespace's sysctls: %w", err)
		}
		d, err := b.timed("apply", ps[i%len(ps)].Name, host[0], host[1])
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
		if _, e, err := b.run("revert", host[0], host[1]); err != nil {
			return nil, fmt.Errorf("revert: %w: %s", err, e)
		}
	}
	c.runTime = median(ds)
	fmt.Printf("apply: measured run time under strace %s (median of %d)\n", c.runTime.Round(time.Millisecond), calib)

	for i := 0; i < n; i++ {
		start := b.startValues(ps)
		if err := writeKernel(start); err != nil {
			return nil, err
		}
		start, err := readKernel() // with the namespace's tcp_retries2
		if err != nil {
			return nil, err
		}
		p := ps[b.rng.IntN(len(ps))]
		want := p.values()
		at := time.Duration(b.rng.Int64N(int64(c.runTime)))
		completed, err := b.killRun([]string{"apply", p.Name, host[0], host[1]}, at)
		if err != nil {
			return nil, err
		}
		c.killed(completed)
		now, err := readKernel()
		if err != nil {
			return nil, err
		}
		state := c.classify(now == start, now.holds(want))
		out, e, _ := b.run("check", p.Name, "--json", host[0], host[1])
		var co checkOut
		if err := json.Unmarshal([]byte(out), &co); err != nil {
			return nil, fmt.Errorf("round %d: check --json: %w: %s%s", i, err, out, e)
		}
		if co.Interrupted != nil {
			c.reported++
			wantLeft := map[string]string{"old": "the values from before it", "new": "the values it was writing"}[state]
			if state == "mix" && !strings.HasPrefix(co.Interrupted.Left, "a mix") || state != "mix" && co.Interrupted.Left != wantLeft {
				c.misreported++
				anomaly("apply round %d: kernel %s (%s), check says the kill left %q", i, now, state, co.Interrupted.Left)
			}
		} else if state == "mix" {
			c.unreported++
			anomaly("apply round %d: %s -> %s killed at %s left %s, and check --json names no interrupted transaction", i, start, want, at, now)
		}
		b.logf("apply round %d: %s %s -> %s, kill at %s: %s (%s), interrupted reported: %v", i, p.Name, start, want, at.Round(time.Microsecond), now, state, co.Interrupted != nil)

		// Some rounds apply another profile first: it undoes the
		// interrupted transaction before its own.
		if b.rng.IntN(3) == 0 {
			q := ps[b.rng.IntN(len(ps))]
			for q.Name == p.Name {
				q = ps[b.rng.IntN(len(ps))]
			}
			c.undoFirst++
			if _, e, err := b.run("apply", q.Name, host[0], host[1]); err != nil {
				c.errs++
				anomaly("apply round %d: apply %s after the kill: %v: %s", i, q.Name, err, e)
			} else if got, _ := readKernel(); !got.holds(q.values()) {
				c.errs++
				anomaly("apply round %d: apply %s after the kill left %s", i, q.Name, got)
			}
		}
		if _, e, err := b.run("revert", host[0], host[1]); err != nil {
			c.errs++
			anomaly("apply round %d: revert: %v: %s", i, err, e)
		}
		if got, _ := readKernel(); got != start {
			c.lost++
			anomaly("apply round %d: revert left %s, the round started from %s (kill at %s, state %s)", i, got, start, at, state)
		}
		left, err := stateFiles(runDir)
		if err != nil {
			return nil, err
		}
		if len(left) > 0 {
			c.orphans += len(left)
			anomaly("apply round %d: after the revert %s holds %s (kill at %s, state %s)", i, runDir, strings.Join(left, ", "), at, state)
			for _, f := range left {
				_ = os.Remove(filepath.Join(runDir, f))
			}
		}
	}
	return c, nil
}

// stateFiles lists what the run directory holds besides the lock and the
// (empty) state directory.
func stateFiles(runDir string) ([]string, error) {
	var left []string
	top, err := os.ReadDir(runDir)
	if err != nil {
		return nil, err
	}
	for _, e := range top {
		if e.Name() != "tcpka.lock" && e.Name() != "tcpka" {
			left = append(left, e.Name())
		}
	}
	inner, err := os.ReadDir(filepath.Join(runDir, "tcpka"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range inner {
		left = append(left, "tcpka/"+e.Name())
	}
	return left, nil
}

// ---- install ----

// entry is one path of a tree: its type and mode, and its content or
// link target.
type entry struct {
	mode fs.FileMode
	data string
}

type tree map[string]entry

func snapshot(root string) (tree, error) {
	t := tree{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := entry{mode: info.Mode()}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			e.data, err = os.Readlink(p)
		case info.Mode().IsRegular():
			var b []byte
			b, err = os.ReadFile(p)
			e.data = string(b)
		}
		t[rel] = e
		return err
	})
	return t, err
}

// view is the files of the tree without tcpka's backups and temporary
// files: what a reader (systemd-sysctl, systemd, uninstall) sees. An empty
// directory a killed install made is not in it either.
func (t tree) view() tree {
	v := tree{}
	for p, e := range t {
		if !stray(p) && !e.mode.IsDir() {
			v[p] = e
		}
	}
	return v
}

func stray(p string) bool {
	base := filepath.Base(p)
	return strings.HasSuffix(base, ".tcpka-backup") || strings.Contains(base, ".tcpka-tmp-")
}

func (t tree) equal(u tree) bool {
	if len(t) != len(u) {
		return false
	}
	for p, e := range t {
		if f, ok := u[p]; !ok || f != e {
			return false
		}
	}
	return true
}

// diff describes how got differs from want, for messages.
func diff(want, got tree) string {
	var out []string
	for p, e := range got {
		if f, ok := want[p]; !ok {
			out = append(out, "+"+p)
		} else if f != e {
			out = append(out, "~"+p)
		}
	}
	for p := range want {
		if _, ok := got[p]; !ok {
			out = append(out, "-"+p)
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// extra lists what got holds that none of the trees in ok holds at the
// same path.
func extra(got tree, ok ...tree) []string {
	var out []string
	for p := range got {
		found := false
		for _, t := range ok {
			if _, in := t[p]; in {
				found = true
			}
		}
		if !found {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

type scenario int

const (
	fresh   scenario = iota // nothing installed
	prev                    // a previous install of another profile
	foreign                 // someone else's 60-tcpka.conf, installed over with --force
)

func (s scenario) String() string {
	return [...]string{"fresh", "previous install", "foreign file --force"}[s]
}

const foreignFile = "etc/sysctl.d/60-tcpka.conf"

// makeTree builds the round's starting tree: sysctl.d (with a file of
// the admin's), systemd/system, and the scenario's file.
func (b *bench) makeTree(dir string, sc scenario, a profileJSON) error {
	for _, d := range []string{"etc/sysctl.d", "etc/systemd/system"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/sysctl.d/10-local.conf"), []byte("net.core.somaxconn = 1024\n"), 0o644); err != nil {
		return err
	}
	switch sc {
	case prev:
		if _, e, err := b.run("install", a.Name, "--root", dir); err != nil {
			return fmt.Errorf("install %s: %w: %s", a.Name, err, e)
		}
	case foreign:
		body := fmt.Sprintf("# the admin's own, not tcpka's (%d)\nnet.ipv4.tcp_keepalive_time = %d\n", b.rng.Uint64(), 100+b.rng.IntN(5000))
		if err := os.WriteFile(filepath.Join(dir, foreignFile), []byte(body), 0o640); err != nil {
			return err
		}
		return os.Chmod(filepath.Join(dir, foreignFile), 0o640)
	}
	return nil
}

// recovered says whether tcpka's output names a recovery.
func recovered(out string) (undo, complete bool) {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == "undo" {
			undo = true
		}
		if len(f) > 0 && f[0] == "complete" {
			complete = true
		}
	}
	return undo, complete
}

func (b *bench) installKills(n, calib int, ps []profileJSON) (*counts, error) {
	c := &counts{what: "install"}
	base := "/run/faults-install"
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	pick2 := func() (profileJSON, profileJSON) {
		a := ps[b.rng.IntN(len(ps))]
		p := ps[b.rng.IntN(len(ps))]
		for p.Name == a.Name {
			p = ps[b.rng.IntN(len(ps))]
		}
		return a, p
	}
	installArgs := func(p profileJSON, dir string, sc scenario) []string {
		args := []string{"install", p.Name, "--root", dir}
		if sc == foreign {
			args = append(args, "--force")
		}
		return args
	}
	// Measure each scenario's run time.
	runTime := map[scenario]time.Duration{}
	for _, sc := range []scenario{fresh, prev, foreign} {
		var ds []time.Duration
		for i := 0; i < calib; i++ {
			dir := filepath.Join(base, "calibrate")
			a, p := pick2()
			if err := b.makeTree(dir, sc, a); err != nil {
				return nil, err
			}
			d, err := b.timed(installArgs(p, dir, sc)...)
			if err != nil {
				return nil, err
			}
			ds = append(ds, d)
			if err := os.RemoveAll(dir); err != nil {
				return nil, err
			}
		}
		runTime[sc] = median(ds)
		fmt.Printf("install (%s): measured run time under strace %s (median of %d)\n", sc, runTime[sc].Round(time.Millisecond), calib)
	}
	c.runTime = runTime[prev]

	for i := 0; i < n; i++ {
		sc := scenario(i % 3)
		a, p := pick2()
		dir := filepath.Join(base, fmt.Sprintf("r%d", i))
		ref := dir + ".ref"
		if err := b.makeTree(dir, sc, a); err != nil {
			return nil, err
		}
		// s0: before the round's first install; s1: before the killed
		// one; s2: what the killed one makes when it completes (measured
		// on a copy).
		var s0 tree
		var err error
		if sc == prev {
			if err := b.makeTree(ref, fresh, a); err != nil {
				return nil, err
			}
			if s0, err = snapshot(ref); err != nil {
				return nil, err
			}
			if err := os.RemoveAll(ref); err != nil {
				return nil, err
			}
		}
		s1, err := snapshot(dir)
		if err != nil {
			return nil, err
		}
		if s0 == nil {
			s0 = s1
		}
		if err := exec.Command("cp", "-a", dir, ref).Run(); err != nil {
			return nil, fmt.Errorf("cp -a %s %s: %w", dir, ref, err)
		}
		if _, e, err := b.run(installArgs(p, ref, sc)...); err != nil {
			return nil, fmt.Errorf("install %s --root %s: %w: %s", p.Name, ref, err, e)
		}
		s2, err := snapshot(ref)
		if err != nil {
			return nil, err
		}
		if err := os.RemoveAll(ref); err != nil {
			return nil, err
		}

		at := time.Duration(b.rng.Int64N(int64(runTime[sc])))
		completed, err := b.killRun(installArgs(p, dir, sc), at)
		if err != nil {
			return nil, err
		}
		c.killed(completed)
		sk, err := snapshot(dir)
		if err != nil {
			return nil, err
		}
		state := c.classify(sk.view().equal(s1.view()), sk.view().equal(s2.view()))
		if strings.Contains(sk["etc/tcpka/install.json"].data, `"state": "pending"`) {
			c.reported++ // the record names the interrupted install
		}
		// The foreign file may go only if the install completed.
		completedInstall := state == "new"
		var recOut string
		checkRecovery := func(what, out string) {
			undo, complete := recovered(out)
			completedInstall = completedInstall || complete
			if state == "mix" && !undo && !complete {
				c.unreported++
				anomaly("install round %d (%s): kill at %s left a mix (%s), and %s reported no recovery:\n%s", i, sc, at, diff(s1, sk), what, out)
			}
		}

		observe := b.rng.IntN(3) != 0
		if observe {
			// Recovery alone: uninstall recovers first, then refuses while
			// the unit is enabled.
			c.observed++
			wants := filepath.Join(dir, "etc/systemd/system/multi-user.target.wants")
			if err := os.Mkdir(wants, 0o755); err != nil {
				return nil, err
			}
			if err := os.Symlink("/etc/systemd/system/tcpka.service", filepath.Join(wants, "tcpka.service")); err != nil {
				return nil, err
			}
			out, e, _ := b.run("uninstall", "--root", dir)
			recOut = out + e
			if err := os.RemoveAll(wants); err != nil {
				return nil, err
			}
			checkRecovery("uninstall (refusing: unit enabled)", recOut)
			sr, err := snapshot(dir)
			if err != nil {
				return nil, err
			}
			switch {
			case sr.equal(s1), sr.equal(s2):
			default:
				if x := extra(sr, s1, s2); len(x) > 0 {
					c.orphans += len(x)
					anomaly("install round %d (%s): after recovery (kill at %s, state %s) the tree holds %s", i, sc, at, state, strings.Join(x, ", "))
				}
				lost := false
				for pth, e1 := range s1 {
					if got, ok := sr[pth]; (!ok || got != e1) && (!ok || got != s2[pth]) {
						lost = true
					}
				}
				if lost {
					c.lost++
					anomaly("install round %d (%s): recovery (kill at %s, state %s) lost what was there: %s", i, sc, at, state, diff(s1, sr))
				} else if !sr.view().equal(s1.view()) && !sr.view().equal(s2.view()) {
					c.unreported++
					anomaly("install round %d (%s): recovery (kill at %s, state %s) left a mix: against the old tree %s; against the new %s", i, sc, at, state, diff(s1, sr), diff(s2, sr))
				}
			}
		}
		reinstall := b.rng.IntN(2) == 0
		if reinstall {
			c.reinstalls++
			out, e, err := b.run(installArgs(p, dir, sc)...)
			if err != nil {
				c.errs++
				anomaly("install round %d (%s): install again after the kill: %v: %s", i, sc, err, e)
			}
			if !observe {
				checkRecovery("install", out)
			}
			completedInstall = true
			si, err := snapshot(dir)
			if err != nil {
				return nil, err
			}
			if !si.equal(s2) {
				if x := extra(si, s2); len(x) > 0 {
					c.orphans += len(x)
					anomaly("install round %d (%s): install again left %s", i, sc, strings.Join(x, ", "))
				} else {
					c.unreported++
					anomaly("install round %d (%s): install again does not give the tree a complete install gives: %s", i, sc, diff(s2, si))
				}
			}
		}
		out, e, err := b.run("uninstall", "--root", dir, "--force")
		if err != nil {
			c.errs++
			anomaly("install round %d (%s): uninstall --force: %v: %s%s", i, sc, err, out, e)
		}
		if !observe && !reinstall {
			checkRecovery("uninstall --force", out)
		}
		sf, err := snapshot(dir)
		if err != nil {
			return nil, err
		}
		want := s0
		if sc == foreign && completedInstall {
			want = tree{}
			for pth, e := range s0 {
				if pth != foreignFile {
					want[pth] = e
				}
			}
		}
		if !sf.equal(want) {
			x := extra(sf, want)
			c.orphans += len(x)
			if len(x) > 0 {
				anomaly("install round %d (%s): after uninstall (kill at %s, state %s) the tree holds %s", i, sc, at, state, strings.Join(x, ", "))
			}
			if len(x) == 0 || diff(want, sf) != "+"+strings.Join(x, " +") {
				c.lost++
				anomaly("install round %d (%s): after uninstall (kill at %s, state %s, install completed: %v) the tree differs from before the round: %s", i, sc, at, state, completedInstall, diff(want, sf))
			}
		}
		b.logf("install round %d (%s): %s over %s, kill at %s: %s; observed %v, reinstalled %v", i, sc, p.Name, a.Name, at.Round(time.Microsecond), state, observe, reinstall)
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// ---- uninstall ----

type showBootJSON struct {
	Boot struct {
		Problems []string `json:"problems"`
	} `json:"boot"`
}

// uninstallKills installs a profile, kills `tcpka uninstall` at a random
// instant (strace delays every unlink and rename, so the kills land
// between any two), and checks that show names what a kill left half
// done, that the next uninstall or install completes it, and that a final
// uninstall leaves the tree as it was before the install.
func (b *bench) uninstallKills(n, calib int, ps []profileJSON) (*counts, error) {
	c := &counts{what: "uninstall"}
	base := "/run/faults-uninstall"
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	// s0: the tree before the install (also what a complete uninstall
	// leaves); s1: installed.
	prepare := func(dir string, p profileJSON, sysctlD bool) (s0, s1 tree, err error) {
		if err := b.makeTree(dir, fresh, p); err != nil {
			return nil, nil, err
		}
		if !sysctlD { // install makes the directory, uninstall removes it
			if err := os.RemoveAll(filepath.Join(dir, "etc/sysctl.d")); err != nil {
				return nil, nil, err
			}
		}
		if s0, err = snapshot(dir); err != nil {
			return nil, nil, err
		}
		if _, e, err := b.run("install", p.Name, "--root", dir); err != nil {
			return nil, nil, fmt.Errorf("install %s: %w: %s", p.Name, err, e)
		}
		s1, err = snapshot(dir)
		return s0, s1, err
	}
	var ds []time.Duration
	for i := 0; i < calib; i++ {
		dir := filepath.Join(base, "calibrate")
		if _, _, err := prepare(dir, ps[i%len(ps)], i%2 == 0); err != nil {
			return nil, err
		}
		d, err := b.timed("uninstall", "--root", dir)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
	}
	c.runTime = median(ds)
	fmt.Printf("uninstall: measured run time under strace %s (median of %d)\n", c.runTime.Round(time.Millisecond), calib)

	for i := 0; i < n; i++ {
		p := ps[b.rng.IntN(len(ps))]
		sysctlD := b.rng.IntN(2) == 0
		dir := filepath.Join(base, fmt.Sprintf("r%d", i))
		s0, s1, err := prepare(dir, p, sysctlD)
		if err != nil {
			return nil, err
		}
		at := time.Duration(b.rng.Int64N(int64(c.runTime)))
		completed, err := b.killRun([]string{"uninstall", "--root", dir}, at)
		if err != nil {
			return nil, err
		}
		c.killed(completed)
		sk, err := snapshot(dir)
		if err != nil {
			return nil, err
		}
		state := c.classify(sk.view().equal(s1.view()), sk.view().equal(s0.view()))
		// What show says about it.
		out, e, _ := b.run("show", "--json", "--root", dir)
		var sj showBootJSON
		if err := json.Unmarshal([]byte(out), &sj); err != nil {
			return nil, fmt.Errorf("uninstall round %d: show --json: %w: %s%s", i, err, out, e)
		}
		named := false
		for _, pr := range sj.Boot.Problems {
			if strings.Contains(pr, "uninstall of tcpka was interrupted") {
				named = true
			}
		}
		if named {
			c.reported++
		}
		if state == "mix" && !named {
			c.unreported++
			anomaly("uninstall round %d: kill at %s left a mix (%s), and show names no interrupted uninstall", i, at, diff(s1, sk))
		}
		if named && state != "mix" {
			c.misreported++
			anomaly("uninstall round %d: kill at %s left %s, and show names an interrupted uninstall", i, at, state)
		}
		// The next uninstall or install completes it.
		next := "uninstall"
		args := []string{"uninstall", "--root", dir}
		if b.rng.IntN(2) == 0 {
			next, args = "install", []string{"install", p.Name, "--root", dir}
			c.reinstalls++
		}
		out, e, err = b.run(args...)
		if err != nil {
			c.errs++
			anomaly("uninstall round %d: %s after the kill: %v: %s%s", i, next, err, out, e)
		}
		if _, complete := recovered(out); named && !complete {
			c.unreported++
			anomaly("uninstall round %d: %s after the kill (%s) did not say it completed the interrupted uninstall:\n%s", i, next, state, out)
		}
		sr, err := snapshot(dir)
		if err != nil {
			return nil, err
		}
		want := s0
		if next == "install" {
			want = s1
		}
		if !sr.equal(want) {
			if x := extra(sr, want); len(x) > 0 {
				c.orphans += len(x)
				anomaly("uninstall round %d: after the %s (kill at %s, state %s) the tree holds %s", i, next, at, state, strings.Join(x, ", "))
			} else {
				c.unreported++
				anomaly("uninstall round %d: after the %s (kill at %s, state %s) the tree is neither installed nor uninstalled: %s", i, next, at, state, diff(want, sr))
			}
		}
		if next == "install" {
			if out, e, err := b.run("uninstall", "--root", dir); err != nil {
				c.errs++
				anomaly("uninstall round %d: the final uninstall: %v: %s%s", i, err, out, e)
			}
			sf, err := snapshot(dir)
			if err != nil {
				return nil, err
			}
			if !sf.equal(s0) {
				if x := extra(sf, s0); len(x) > 0 {
					c.orphans += len(x)
				} else {
					c.lost++
				}
				anomaly("uninstall round %d: the final uninstall left the tree %s", i, diff(s0, sf))
			}
		}
		b.logf("uninstall round %d: %s, sysctl.d made by install %v, kill at %s: %s; show named it %v; then %s", i, p.Name, !sysctlD, at.Round(time.Microsecond), state, named, next)
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
	}
	return c, nil
}
