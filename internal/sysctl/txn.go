package sysctl

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/tcpka/tcpka/internal/atomicfile"
	"github.com/tcpka/tcpka/internal/keepalive"
)

// State is where transactions keep their lock and their records: the lock
// at RunDir/tcpka.lock, records in the private directory RunDir/tcpka.
type State struct {
	RunDir string // /run
	// LockTimeout bounds the wait for another tcpka's transaction (0: 10 s).
	LockTimeout time.Duration
}

// Lock takes the transaction lock: two tcpka runs cannot interleave their
// writes. Call the returned func to release it.
func (st State) Lock() (unlock func(), err error) {
	timeout := st.LockTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	return Lock(filepath.Join(st.RunDir, "tcpka.lock"), timeout)
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

// RevertName is the file name of a namespace's revert record: one per
// namespace, so reverting one cannot restore another's values. nsKey
// identifies the namespace ("" for a proc tree that names none).
func RevertName(nsKey string) string {
	if nsKey == "" {
		nsKey = "default"
	}
	return "revert-netns-" + nsKey + ".json"
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
	// NSKey identifies the namespace for its revert record.
	NSKey string
}

// Transact runs req against rw, the sysctls of one namespace: it reads the
// current values, stops there on a dry run or when nothing differs, saves
// the revert record (when asked and none exists), then writes all changed
// keys or none. The caller holds the lock (Lock) unless DryRun.
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
	plan, err := Apply(rw, req.Want, keys, true)
	if err != nil {
		return plan, fmt.Errorf("%s: %w", req.What, err)
	}
	if req.DryRun || len(plan.Changes) == 0 {
		return plan, nil
	}
	if req.Record != "" {
		d, err := st.Dir()
		if err != nil {
			return plan, fmt.Errorf("%s: %w", req.What, err)
		}
		err = SaveRevert(d, RevertName(req.NSKey), RevertRecord{Before: plan.Before, Profile: req.Record, At: time.Now().UTC()})
		d.Close()
		if err != nil {
			return plan, fmt.Errorf("%s: %w", req.What, err)
		}
	}
	res, err := Apply(rw, req.Want, keys, false)
	if err != nil {
		return res, Explain(req.What, err)
	}
	return res, nil
}

// Explain turns the errors a write can meet into what the user should do
// about them.
func Explain(what string, err error) error {
	switch {
	case errors.Is(err, ErrReadOnly):
		return fmt.Errorf("%s: /proc/sys is mounted read-only (as in most containers): run tcpka on the host, or give the container a writable /proc/sys: %w", what, err)
	case errors.Is(err, ErrPermission):
		return fmt.Errorf("%s needs root (CAP_NET_ADMIN): run it with sudo: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
