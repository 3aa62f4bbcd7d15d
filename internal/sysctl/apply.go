package sysctl

import (
	"errors"
	"fmt"

	"github.com/tcpka/tcpka/internal/keepalive"
)

// KeyReadWriter is what a transaction needs; FS implements it, and tests
// use fakes that fail on a chosen key.
type KeyReadWriter interface {
	ReadKey(Key) (int, error)
	WriteKey(Key, int) error
}

// Result says what a transaction found and did.
type Result struct {
	Before  keepalive.Settings // values read before anything was written
	After   keepalive.Settings // what the keys hold afterwards (Before on a dry run or when nothing changed)
	Changes []Change           // keys that differed from what was asked
	Written bool               // false for a dry run or when nothing differed
	// Present are the keys the tree has (an optional key may be missing).
	Present []Key
	// Undone is the transaction a killed run left in this namespace,
	// undone before this one (on a dry run: to be undone); Left says what
	// it had left in the kernel.
	Undone *Journal
	Left   string
}

// ErrRolledBack is wrapped when a write failed and the keys already written
// were restored.
var ErrRolledBack = errors.New("rolled back")

// ErrVerify is wrapped when a read-back shows a value other than the one
// written (another writer raced us, or the kernel clamped it).
var ErrVerify = errors.New("read-back differs")

// Apply writes the keys among keys whose value in want differs from the
// current one, in key order, exactly as given: validating is the caller's
// job (a profile is validated when decoded; a revert restores whatever the
// kernel held, valid or not). If a write fails, the keys already written
// get their old values back and the error names both failures. Callers
// hold the lock (State.Lock).
func Apply(rw KeyReadWriter, want keepalive.Settings, keys []Key, dryRun bool) (Result, error) {
	var res Result
	for _, k := range Keys() {
		n, err := rw.ReadKey(k)
		if err != nil && k.Optional && errors.Is(err, ErrNotExist) {
			continue
		}
		if err != nil {
			return Result{}, err
		}
		k.Set(&res.Before, n)
		res.Present = append(res.Present, k)
	}
	res.Changes = Diff(want, res.Before, keys)
	res.After = res.Before
	if dryRun || len(res.Changes) == 0 {
		return res, nil
	}
	for i, c := range res.Changes {
		if err := rw.WriteKey(c.Key, c.New); err != nil {
			if rerr := rollback(rw, res.Changes[:i]); rerr != nil {
				return res, fmt.Errorf("%w; restoring the old values failed too: %w", err, rerr)
			}
			return res, fmt.Errorf("%w; %w: the keys already written were restored", err, ErrRolledBack)
		}
	}
	res.Written = true
	for _, k := range res.Present {
		n, err := rw.ReadKey(k)
		if err != nil {
			return res, err
		}
		k.Set(&res.After, n)
	}
	for _, c := range res.Changes {
		if got := c.Key.Get(res.After); got != c.New {
			return res, fmt.Errorf("%s: wrote %d, %w: %d", c.Key.Sysctl, c.New, ErrVerify, got)
		}
	}
	return res, nil
}

// rollback writes back the old value of every change, newest first, and
// reports every key it could not restore.
func rollback(rw KeyReadWriter, done []Change) error {
	var errs []error
	for i := len(done) - 1; i >= 0; i-- {
		if err := rw.WriteKey(done[i].Key, done[i].Old); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
