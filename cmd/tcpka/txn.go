package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// lockTimeout bounds the wait for another tcpka's apply to finish.
var lockTimeout = 10 * time.Second

// canWrite refuses early, before the lock and before any write, when the
// process cannot write the real /proc/sys/net: writing needs root or
// CAP_NET_ADMIN. A fake tree (--proc-root) needs neither.
func (e *Env) canWrite(what string) error {
	if filepath.Clean(e.ProcRoot) != sysctl.DefaultProcRoot {
		return nil
	}
	if os.Geteuid() == 0 || hasCapNetAdmin() {
		return nil
	}
	return fmt.Errorf("%s needs root (CAP_NET_ADMIN): run it with sudo", what)
}

// hasCapNetAdmin reads the effective capability set from /proc/self/status.
func hasCapNetAdmin() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			const capNetAdmin = 12
			return err == nil && caps&(1<<capNetAdmin) != 0
		}
	}
	return false
}

// lock takes the apply lock under the run dir.
func (e *Env) lock() (func(), error) {
	return sysctl.Lock(filepath.Join(e.RunDir, "tcpka.lock"), lockTimeout)
}

// revertPath is the revert record of the netns tcpka acts on (--netns or
// its own): one per namespace, named by its inode, so reverting one netns
// cannot restore another's values.
func (e *Env) revertPath() string { return e.revertPathFor(e.netnsID()) }

// revertPathFor is the revert record of the namespace with the given ID
// ("net:[4026531840]").
func (e *Env) revertPathFor(netnsID string) string {
	id := "default"
	if strings.HasPrefix(netnsID, "net:[") {
		id = strings.TrimSuffix(strings.TrimPrefix(netnsID, "net:["), "]")
	}
	return filepath.Join(e.RunDir, "tcpka", "revert-netns-"+id+".json")
}

// explainWrite turns the errors a write can meet into what the user should
// do about them.
func explainWrite(what string, err error) error {
	switch {
	case errors.Is(err, sysctl.ErrReadOnly):
		return fmt.Errorf("%s: /proc/sys is mounted read-only (as in most containers): run tcpka on the host, or give the container a writable /proc/sys: %w", what, err)
	case errors.Is(err, sysctl.ErrPermission):
		return fmt.Errorf("%s needs root (CAP_NET_ADMIN): run it with sudo: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// transact applies s under the lock, in the --netns target if one was
// given: it records the old values for revert (when record is set and
// something will change), then writes all changed keys or none.
func (e *Env) transact(what string, s sysctl.Settings, dryRun bool, record *sysctl.RevertRecord) (sysctl.Result, error) {
	if !dryRun {
		if err := e.canWrite(what); err != nil {
			return sysctl.Result{}, err
		}
		unlock, err := e.lock()
		if err != nil {
			return sysctl.Result{}, fmt.Errorf("%s: %w", what, err)
		}
		defer unlock()
	}
	revertPath := e.revertPath() // outside the target: it reads /proc/self
	var res sysctl.Result
	var err error
	if nerr := e.inNetns(func() error {
		res, err = e.transactHere(what, s, dryRun, record, revertPath)
		return nil
	}); nerr != nil {
		return res, fmt.Errorf("%s: %w", what, nerr)
	}
	return res, err
}

// transactHere is one transaction in the network namespace of the calling
// thread; the caller holds the lock unless dryRun.
func (e *Env) transactHere(what string, s sysctl.Settings, dryRun bool, record *sysctl.RevertRecord, revertPath string) (sysctl.Result, error) {
	fs := e.sysFS()
	plan, err := sysctl.Apply(fs, s, true)
	if err != nil {
		return plan, fmt.Errorf("%s: %w", what, err)
	}
	if dryRun || len(plan.Changes) == 0 {
		return plan, nil
	}
	if record != nil {
		record.Before = plan.Before
		record.At = time.Now().UTC()
		if err := sysctl.SaveRevert(revertPath, *record); err != nil {
			return plan, fmt.Errorf("%s: %w", what, err)
		}
	}
	res, err := sysctl.Apply(fs, s, false)
	if err != nil {
		return res, explainWrite(what, err)
	}
	return res, nil
}

// printChanges prints each key old -> new, then the detection time.
func printChanges(e *Env, s sysctl.Settings, res sysctl.Result, after sysctl.Values) {
	w := e.Stdout
	for _, k := range sysctl.Keys {
		n, set := s.Lookup(k)
		old := res.Before.Get(k)
		switch {
		case !set:
			fmt.Fprintf(w, "  %s  (not set by the profile)\n", keyColumn(k, old))
		case n == old:
			fmt.Fprintf(w, "  %s  (unchanged)\n", keyColumn(k, old))
		default:
			fmt.Fprintf(w, "  %s -> %s\n", keyColumn(k, old), sysctl.FormatValue(k, n))
		}
	}
	before, now := keepalive(res.Before).IdleSeconds(), keepalive(after).IdleSeconds()
	if before == now {
		fmt.Fprintf(w, "  dead-peer detection %s (unchanged)\n", detect.Seconds(before))
	} else {
		fmt.Fprintf(w, "  dead-peer detection %s -> %s\n", detect.Seconds(before), detect.Seconds(now))
	}
}
