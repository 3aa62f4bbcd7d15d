package sysctl

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tcpka/tcpka/internal/atomicfile"
	"github.com/tcpka/tcpka/internal/keepalive"
	"golang.org/x/sys/unix"
)

// State is where transactions keep their lock and their records: the lock
// at RunDir/tcpka.lock, records, journals and leases in the private
// directory RunDir/tcpka (root-owned, 0700).
type State struct {
	RunDir string // /run
	// LockTimeout bounds the wait for another tcpka's transaction (0: 10 s).
	LockTimeout time.Duration
}

func (st State) lockPath() string { return filepath.Join(st.RunDir, "tcpka.lock") }

// Lock takes the transaction lock: two tcpka runs cannot interleave their
// writes. Call the returned func to release it. Holding it, it removes the
// temporary files of records and journals that a tcpka killed mid-write
// left: only a lock holder writes them, so none is in progress.
func (st State) Lock() (unlock func(), err error) {
	timeout := st.LockTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	unlock, err = Lock(st.lockPath(), timeout)
	if err == nil {
		st.cleanTemps()
	}
	return unlock, err
}

// cleanTemps removes the temporary files a killed SaveRevert or journal
// write left in the state directory (".revert-….json.tcpka-tmp-…"): the
// next write of the same name would, but a revert record is written once
// and a journal only when something changes, so they could stay for
// good. The caller holds the lock.
func (st State) cleanTemps() {
	d, err := st.OpenDir()
	if err != nil {
		return
	}
	defer d.Close()
	for _, n := range d.Temps("") {
		if strings.HasPrefix(n, ".revert-") || strings.HasPrefix(n, ".journal-") {
			_ = d.Remove(n)
		}
	}
}

// Busy says whether another tcpka holds the transaction lock now.
func (st State) Busy() bool {
	fd, err := unix.Open(st.lockPath(), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return errors.Is(unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB), unix.EWOULDBLOCK)
}

// Dir opens the private state directory, creating it root-owned 0700.
func (st State) Dir() (*atomicfile.Dir, error) {
	return atomicfile.PrivateDir(st.RunDir, "tcpka")
}

// OpenDir opens the private state directory to read it; one that does not
// exist yet is an error wrapping os.ErrNotExist.
func (st State) OpenDir() (*atomicfile.Dir, error) {
	return atomicfile.OpenPrivateDir(st.RunDir, "tcpka")
}

// Request is one transaction.
type Request struct {
	What   string             // the command, for messages: "apply", "revert", "watch"
	Want   keepalive.Settings // the values to write
	Keys   []Key              // the keys to write; nil: those Want sets (SetKeys)
	DryRun bool
	// Exact writes Want as given, even values outside tcpka's limits: a
	// revert restores whatever the kernel held. Otherwise Want is held to
	// keepalive.Settings.Validate before anything is read or written.
	Exact bool
	// Record names the profile to record for revert before the first
	// write; "" records nothing (a revert, a later correction).
	Record string
	// NS identifies the namespace for its records and journal.
	NS NSID
}

// Transact runs req against rw, the sysctls of one namespace: it reads the
// current values; undoes a transaction that was interrupted there (its
// journal is left; Result.Undone says so); stops on a dry run or when
// nothing differs; saves the revert record (when asked and none exists);
// writes its journal; writes all changed keys or none; and removes the
// journal. A run killed at any instant leaves the old values, the new
// ones, or a journal. The caller holds the lock (Lock) unless DryRun.
func (st State) Transact(rw KeyReadWriter, req Request) (Result, error) {
	if !req.Exact {
		if err := req.Want.Validate(); err != nil {
			return Result{}, fmt.Errorf("%s: %w", req.What, err)
		}
	}
	keys := req.Keys
	if keys == nil {
		keys = SetKeys(req.Want)
	}
	var d *atomicfile.Dir
	var err error
	if req.DryRun {
		// A dry run needs no root: a state directory that does not exist
		// yet, or that only root may read (0700), holds nothing it can
		// act on; it goes on without the interrupted-journal check.
		d, err = st.OpenDir()
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
			d, err = nil, nil
		}
	} else {
		d, err = st.Dir()
	}
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", req.What, err)
	}
	if d != nil {
		defer d.Close()
	}
	var pending *Journal
	if d != nil {
		if pending, err = loadJournal(d, req.NS); err != nil {
			return Result{}, fmt.Errorf("%s: %w", req.What, err)
		}
	}
	plan, err := Apply(rw, req.Want, keys, true)
	if err != nil {
		return plan, fmt.Errorf("%s: %w", req.What, err)
	}
	if pending != nil {
		plan.Undone = pending
		plan.Left = pending.Left(plan.Before)
		if req.DryRun {
			return plan, nil
		}
		// Undo it first: its own keys back to what they held before it,
		// and the record it made, which stood for a change now undone.
		if _, err := Apply(rw, pending.Before, pending.Keys, false); err != nil {
			return plan, Explain(req.What, fmt.Errorf("undo the interrupted %s: %w", pending.Describe(), err))
		}
		if pending.Recorded {
			if err := d.Remove(RevertName(req.NS)); err != nil {
				return plan, fmt.Errorf("%s: %w", req.What, err)
			}
		}
		if err := d.Remove(JournalName(req.NS)); err != nil {
			return plan, fmt.Errorf("%s: %w", req.What, err)
		}
		undone, left := pending, plan.Left
		if plan, err = Apply(rw, req.Want, keys, true); err != nil {
			return plan, fmt.Errorf("%s: %w", req.What, err)
		}
		plan.Undone, plan.Left = undone, left
	}
	if req.DryRun || len(plan.Changes) == 0 {
		return plan, nil
	}
	// The journal comes first, saying whether this transaction makes the
	// namespace's revert record: a kill after it, before or after the
	// record, leaves a journal whose undo removes that record too.
	recorded := false
	if req.Record != "" {
		kind, _, err := d.Stat(RevertName(req.NS))
		if err != nil {
			return plan, fmt.Errorf("%s: revert state: %w", req.What, err)
		}
		recorded = kind == atomicfile.Absent
	}
	j := Journal{Op: req.What, Profile: req.Record, NS: req.NS, Before: plan.Before, Want: req.Want, Keys: keys, Recorded: recorded, At: time.Now().UTC(), PID: os.Getpid()}
	if err := saveJournal(d, j); err != nil {
		return plan, fmt.Errorf("%s: journal: %w", req.What, err)
	}
	if recorded {
		rec := RevertRecord{NS: req.NS, Before: plan.Before, Keys: plan.Present, Profile: req.Record, At: time.Now().UTC()}
		if err := SaveRevert(d, rec); err != nil {
			return plan, fmt.Errorf("%s: %w", req.What, err)
		}
	}
	res, err := Apply(rw, req.Want, keys, false)
	res.Undone, res.Left = plan.Undone, plan.Left
	if err != nil && !errors.Is(err, ErrRolledBack) && !errors.Is(err, ErrVerify) {
		// The keys could not be restored either: the journal stays for the
		// next command to name and undo.
		return res, Explain(req.What, err)
	}
	if recorded && errors.Is(err, ErrRolledBack) {
		// Nothing changed: no record of a change that did not happen (a
		// later apply would keep it, and revert restore stale values).
		if rerr := d.Remove(RevertName(req.NS)); rerr != nil {
			return res, fmt.Errorf("%s: %w; removing its revert record failed too: %w", req.What, Explain(req.What, err), rerr)
		}
	}
	if rerr := d.Remove(JournalName(req.NS)); rerr != nil && err == nil {
		err = fmt.Errorf("journal: %w", rerr)
	}
	if errors.Is(err, ErrVerify) {
		return res, fmt.Errorf("%s: %d %s written, but %w", req.What, len(res.Changes), plural(len(res.Changes), "key"), err)
	}
	if err != nil {
		return res, Explain(req.What, err)
	}
	return res, nil
}

// Reverted is what a revert found and did in one namespace.
type Reverted struct {
	// Record is the namespace's revert record; nil: there was none,
	// nothing to revert.
	Record *RevertRecord
	Result Result
}

// Revert restores, in the namespace rw belongs to (the calling thread is
// inside it), the values its revert record holds, exactly as the kernel
// held them (valid for a profile or not), as one transaction, then
// forgets the record. Without a record it does nothing. The caller holds
// the lock unless dryRun.
func (st State) Revert(rw KeyReadWriter, id NSID, dryRun bool) (Reverted, error) {
	d, err := st.OpenDir()
	if errors.Is(err, os.ErrNotExist) {
		return Reverted{}, nil // no state: tcpka never changed anything
	}
	if err != nil {
		return Reverted{}, fmt.Errorf("revert: %w", err)
	}
	defer d.Close()
	rec, err := LoadRevert(d, id)
	if errors.Is(err, ErrNothingToRevert) {
		// No record, but an apply killed between its journal and its
		// record may have left the journal: undo it (a transaction that
		// writes no key of its own), so it is not left behind.
		if j, _ := loadJournal(d, id); j != nil {
			res, err := st.Transact(rw, Request{What: "revert", Want: j.Before, Keys: []Key{}, Exact: true, DryRun: dryRun, NS: id})
			return Reverted{Result: res}, err
		}
		return Reverted{}, nil
	}
	if err != nil {
		return Reverted{}, err
	}
	res, err := st.Transact(rw, Request{What: "revert", Want: rec.Before, Keys: rec.Keys, Exact: true, DryRun: dryRun, NS: id})
	out := Reverted{Record: &rec, Result: res}
	if err != nil || dryRun {
		return out, err
	}
	if err := d.Remove(RevertName(id)); err != nil {
		return out, fmt.Errorf("revert: values restored, but the record stays: %w", err)
	}
	return out, nil
}

// RevertRecords reads every revert record in the state directory, by file
// name (RevertRecords of d); none when there is no state.
func (st State) RevertRecords() (map[string]RevertRecord, error) {
	d, err := st.OpenDir()
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("revert state: %w", err)
	}
	defer d.Close()
	return RevertRecords(d)
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// Interrupted returns the journal a killed transaction left for the
// namespace, and whether it may still be running (another tcpka holds the
// lock). nil when there is none or the state cannot be read (show and
// check need no privileges; the state directory is root's).
func (st State) Interrupted(id NSID) (j *Journal, running bool) {
	d, err := st.OpenDir()
	if err != nil {
		return nil, false
	}
	defer d.Close()
	j, err = loadJournal(d, id)
	if err != nil || j == nil {
		return nil, false
	}
	return j, st.Busy()
}

// Explain turns the errors a write can meet into what the user should do
// about them. Permission denied to root is not "needs root".
func Explain(what string, err error) error {
	switch {
	case errors.Is(err, ErrReadOnly):
		return fmt.Errorf("%s: /proc/sys is mounted read-only (as in most containers): run tcpka on the host, or give the container a writable /proc/sys: %w", what, err)
	case errors.Is(err, ErrPermission) && os.Geteuid() == 0:
		return fmt.Errorf("%s: the kernel refused the write although tcpka runs as root (a security module, a seccomp filter, or a user namespace without CAP_NET_ADMIN over this network namespace): %w", what, err)
	case errors.Is(err, ErrPermission):
		return fmt.Errorf("%s needs root (CAP_NET_ADMIN): run it with sudo: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Lease is held by a tcpka watch for as long as it keeps a profile applied
// in a namespace ("all" for watch --all-netns): revert refuses to undo
// what watch would put back at its next check, and so cannot lose the
// record of the original values.
type Lease struct {
	f *os.File
}

func leaseName(key string) string { return "watch-" + key + ".lease" }

// TakeLease takes the lease on key for this process; it fails when
// another tcpka watch holds it.
func (st State) TakeLease(key string) (*Lease, error) {
	d, err := st.Dir()
	if err != nil {
		return nil, err
	}
	defer d.Close()
	name := leaseName(key)
	fd, err := unix.Openat(d.Fd(), name, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lease %s/%s: %w", d.Where(), name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if pid := leaseHolder(d, name); pid != 0 {
			return nil, fmt.Errorf("another tcpka watch (pid %d) keeps a profile applied here", pid)
		}
		return nil, fmt.Errorf("another tcpka watch keeps a profile applied here")
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &Lease{f: f}, nil
}

// Release gives the lease up.
func (l *Lease) Release() {
	if l != nil {
		l.f.Close()
	}
}

// Leased returns the pid of the tcpka watch holding the lease on key, 0
// when none does.
func (st State) Leased(key string) int {
	d, err := st.OpenDir()
	if err != nil {
		return 0
	}
	defer d.Close()
	fd, err := unix.Openat(d.Fd(), leaseName(key), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	if !errors.Is(unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB), unix.EWOULDBLOCK) {
		return 0
	}
	if pid := leaseHolder(d, leaseName(key)); pid != 0 {
		return pid
	}
	return -1
}

func leaseHolder(d *atomicfile.Dir, name string) int {
	b, err := d.ReadPrivate(name, 64)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(string(bytes.TrimSpace(b)))
	return pid
}

// Collect removes the records and journals of namespaces that are gone,
// as alive says, so a namespace that later gets the same inode number
// never inherits them. The caller holds the lock.
func (st State) Collect(alive func(NSID) bool) (removed []string, err error) {
	d, err := st.OpenDir()
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	files, err := stateFiles(d)
	if err != nil {
		return nil, err
	}
	for name, id := range files {
		if id == (NSID{}) || alive(id) {
			continue
		}
		if err := d.Remove(name); err != nil {
			return removed, err
		}
		removed = append(removed, name)
	}
	return removed, nil
}
