package sysctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tcpka/tcpka/internal/atomicfile"
	"github.com/tcpka/tcpka/internal/keepalive"
)

// NSID identifies a network namespace for the records kept about it. The
// cookie (SO_NETNS_COOKIE, Linux 5.14+) is never reused during a boot; an
// inode number is, within a few namespaces, so a record keyed by inode
// alone is dropped as soon as no namespace has that inode (Collect).
type NSID struct {
	Cookie uint64 `json:"cookie,omitempty"`
	Inode  uint64 `json:"inode,omitempty"`
}

// Key names the namespace's records: "c5386" by cookie, "i4026532247" by
// inode, "default" for a proc tree that names no namespace (a test tree, a
// container's bind mount of another /proc/sys/net).
func (id NSID) Key() string {
	switch {
	case id.Cookie != 0:
		return "c" + strconv.FormatUint(id.Cookie, 10)
	case id.Inode != 0:
		return "i" + strconv.FormatUint(id.Inode, 10)
	}
	return "default"
}

// valuesJSON is a set of key values on disk, by sysctl name, so a record
// written by one tcpka names exactly what it holds.
type valuesJSON map[string]int

func toJSON(s keepalive.Settings, keys []Key) valuesJSON {
	out := valuesJSON{}
	for _, k := range keys {
		out[k.Sysctl] = k.Get(s)
	}
	return out
}

// settings reads the values back, and the keys they name.
func (v valuesJSON) settings() (keepalive.Settings, []Key, error) {
	var s keepalive.Settings
	var keys []Key
	for _, k := range Keys() {
		if n, ok := v[k.Sysctl]; ok {
			k.Set(&s, n)
			keys = append(keys, k)
		}
	}
	if len(keys) != len(v) {
		return s, keys, errors.New("names a key tcpka does not manage")
	}
	return s, keys, nil
}

// maxRecord bounds a state file read: a record is a few hundred bytes.
const maxRecord = 64 << 10

// RevertRecord is what apply saves so that revert can restore the values
// that were there before tcpka first changed them.
type RevertRecord struct {
	NS      NSID
	Before  keepalive.Settings
	Keys    []Key // the keys Before holds
	Profile string
	At      time.Time
}

// recordJSON is a revert record on disk; field names are stable.
type recordJSON struct {
	NS      NSID       `json:"netns"`
	Before  valuesJSON `json:"before"`
	Profile string     `json:"profile"`
	At      time.Time  `json:"at"`
}

// ErrNothingToRevert: no apply changed anything since boot or the last revert.
var ErrNothingToRevert = errors.New("nothing to revert")

// RevertName is the file of a namespace's revert record.
func RevertName(id NSID) string { return "revert-" + id.Key() + ".json" }

// SaveRevert records rec in the private state directory d unless a record
// of the namespace is there already: revert goes back to before the first
// apply, not merely the last one, the way a user expects "undo tcpka" to
// work.
func SaveRevert(d *atomicfile.Dir, rec RevertRecord) error {
	name := RevertName(rec.NS)
	if kind, _, err := d.Stat(name); err != nil {
		return fmt.Errorf("save revert state: %w", err)
	} else if kind != atomicfile.Absent {
		return nil
	}
	b, err := json.Marshal(recordJSON{NS: rec.NS, Before: toJSON(rec.Before, rec.Keys), Profile: rec.Profile, At: rec.At})
	if err != nil {
		return err
	}
	if err := d.WriteFile(name, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save revert state: %w", err)
	}
	return nil
}

// LoadRevert reads the namespace's record from the private state directory d.
func LoadRevert(d *atomicfile.Dir, id NSID) (RevertRecord, error) {
	return loadRevert(d, RevertName(id))
}

// RevertRecords reads every revert record in d, by file name: revert
// --all-netns names those whose namespace it did not reach. A record that
// cannot be read is left out and named in the error, which joins them all.
func RevertRecords(d *atomicfile.Dir) (map[string]RevertRecord, error) {
	names, err := d.Names()
	if err != nil {
		return nil, fmt.Errorf("revert state: %w", err)
	}
	out := map[string]RevertRecord{}
	var errs []error
	for _, n := range names {
		if !strings.HasPrefix(n, "revert-") || !strings.HasSuffix(n, ".json") {
			continue
		}
		rec, err := loadRevert(d, n)
		switch {
		case errors.Is(err, ErrNothingToRevert): // removed meanwhile
		case err != nil:
			errs = append(errs, err)
		default:
			out[n] = rec
		}
	}
	return out, errors.Join(errs...)
}

func loadRevert(d *atomicfile.Dir, name string) (RevertRecord, error) {
	b, err := d.ReadPrivate(name, maxRecord)
	if errors.Is(err, os.ErrNotExist) {
		return RevertRecord{}, ErrNothingToRevert
	}
	if err != nil {
		return RevertRecord{}, fmt.Errorf("revert state: %w", err)
	}
	var j recordJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return RevertRecord{}, fmt.Errorf("revert state %s/%s: %w", d.Where(), name, err)
	}
	before, keys, err := j.Before.settings()
	if err != nil {
		return RevertRecord{}, fmt.Errorf("revert state %s/%s: %w", d.Where(), name, err)
	}
	return RevertRecord{NS: j.NS, Before: before, Keys: keys, Profile: j.Profile, At: j.At}, nil
}

// Journal is the intent a transaction writes before its first write and
// removes after its last: a run killed in between leaves it behind, so the
// next command can say what happened and undo it.
type Journal struct {
	Op      string             // "apply", "revert", "watch"
	Profile string             // the profile applied ("" for a revert)
	NS      NSID               // the namespace written
	Before  keepalive.Settings // every key, as read before the first write
	Want    keepalive.Settings // the values being written
	Keys    []Key              // the keys being written
	// Recorded: the transaction makes the namespace's revert record (none
	// was there); undoing it removes the record too, so a record exists
	// only for a change that happened.
	Recorded bool
	At       time.Time
	PID      int
}

type journalJSON struct {
	Op       string     `json:"op"`
	Profile  string     `json:"profile,omitempty"`
	NS       NSID       `json:"netns"`
	Before   valuesJSON `json:"before"`
	Want     valuesJSON `json:"want"`
	Recorded bool       `json:"recorded,omitempty"`
	At       time.Time  `json:"at"`
	PID      int        `json:"pid"`
}

// JournalName is the file of a namespace's journal.
func JournalName(id NSID) string { return "journal-" + id.Key() + ".json" }

func saveJournal(d *atomicfile.Dir, j Journal) error {
	b, err := json.Marshal(journalJSON{Op: j.Op, Profile: j.Profile, NS: j.NS,
		Before: toJSON(j.Before, j.Keys), Want: toJSON(j.Want, j.Keys), Recorded: j.Recorded, At: j.At, PID: j.PID})
	if err != nil {
		return err
	}
	return d.WriteFile(JournalName(j.NS), append(b, '\n'), 0o600)
}

// loadJournal reads the namespace's journal; nil when there is none.
func loadJournal(d *atomicfile.Dir, id NSID) (*Journal, error) {
	name := JournalName(id)
	b, err := d.ReadPrivate(name, maxRecord)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var j journalJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("journal %s/%s: %w", d.Where(), name, err)
	}
	before, _, err := j.Before.settings()
	if err != nil {
		return nil, fmt.Errorf("journal %s/%s: %w", d.Where(), name, err)
	}
	want, keys, err := j.Want.settings()
	if err != nil {
		return nil, fmt.Errorf("journal %s/%s: %w", d.Where(), name, err)
	}
	return &Journal{Op: j.Op, Profile: j.Profile, NS: j.NS, Before: before, Want: want, Keys: keys, Recorded: j.Recorded, At: j.At, PID: j.PID}, nil
}

// Left says what an interrupted transaction left in the kernel, given
// the values now: "the values from before it", "the values it was
// writing", or a mix that names which key holds which, e.g. "a mix:
// tcp_keepalive_time, tcp_keepalive_intvl and tcp_keepalive_probes hold
// the values it was writing; tcp_retries2 holds the value from before it".
// A key the transaction did not change (its value before was the one it
// wrote) counts as either.
func (j *Journal) Left(now keepalive.Settings) string {
	switch {
	case len(Diff(j.Before, now, j.Keys)) == 0:
		return "the values from before it"
	case len(Diff(j.Want, now, j.Keys)) == 0:
		return "the values it was writing"
	}
	var written, before, other []string
	for _, k := range j.Keys {
		switch n := k.Get(now); {
		case n == k.Get(j.Want) && n == k.Get(j.Before):
		case n == k.Get(j.Want):
			written = append(written, k.Sysctl)
		case n == k.Get(j.Before):
			before = append(before, k.Sysctl)
		default:
			other = append(other, k.Sysctl)
		}
	}
	var parts []string
	if len(written) > 0 {
		parts = append(parts, holds(written, "it was writing"))
	}
	if len(before) > 0 {
		parts = append(parts, holds(before, "from before it"))
	}
	if len(other) > 0 {
		parts = append(parts, strings.Join(other, " and ")+" "+map[bool]string{true: "holds", false: "hold"}[len(other) == 1]+" neither value (another writer's)")
	}
	return "a mix: " + strings.Join(parts, "; ")
}

// holds is "tcp_keepalive_time holds the value it was writing" or "a, b
// and c hold the values it was writing".
func holds(keys []string, which string) string {
	if len(keys) == 1 {
		return keys[0] + " holds the value " + which
	}
	return strings.Join(keys[:len(keys)-1], ", ") + " and " + keys[len(keys)-1] + " hold the values " + which
}

// Describe names the interrupted transaction: "apply of profile ssh (pid
// 4711, 2026-11-30 09:00:01 UTC)".
func (j *Journal) Describe() string {
	what := j.Op
	if j.Profile != "" {
		what += " of profile " + j.Profile
	}
	return fmt.Sprintf("%s (pid %d, %s)", what, j.PID, j.At.Format("2006-01-02 15:04:05 UTC"))
}

// stateFiles lists the records and journals in d: name -> namespace.
func stateFiles(d *atomicfile.Dir) (map[string]NSID, error) {
	names, err := d.Names()
	if err != nil {
		return nil, err
	}
	out := map[string]NSID{}
	for _, n := range names {
		if !strings.HasSuffix(n, ".json") || !(strings.HasPrefix(n, "revert-") || strings.HasPrefix(n, "journal-")) {
			continue
		}
		b, err := d.ReadPrivate(n, maxRecord)
		if err != nil {
			continue
		}
		var j struct {
			NS NSID `json:"netns"`
		}
		if json.Unmarshal(b, &j) == nil {
			out[n] = j.NS
		}
	}
	return out, nil
}
