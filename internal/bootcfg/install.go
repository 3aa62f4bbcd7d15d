package bootcfg

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/tcpka/tcpka/internal/atomicfile"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// Where install puts things, inside the root.
const (
	DefaultSysctlDir = "/etc/sysctl.d"
	ConfigDir        = "/etc/tcpka"
	ProfileFile      = "/etc/tcpka/profile.yaml"
	ManifestFile     = "/etc/tcpka/install.json"
	UnitDir          = "/etc/systemd/system"
	UnitName         = "tcpka.service"
)

// FileMode is the mode of every file install writes: world-readable, as the
// loaders and package managers expect for configuration.
const FileMode = 0o644

// ErrEnabled: uninstall found tcpka.service still enabled.
var ErrEnabled = errors.New("tcpka.service is still enabled")

// ErrChanged: uninstall found a file that differs from what install wrote.
var ErrChanged = errors.New("changed since tcpka installed it")

// Op is what install or uninstall does to one path.
type Op string

const (
	OpCreate    Op = "create"
	OpUpdate    Op = "update"
	OpReplace   Op = "replace"   // a foreign file, with --force
	OpUnchanged Op = "unchanged" // already has this content
	OpRemove    Op = "remove"
	OpSkip      Op = "skip"
	OpKeep      Op = "keep"     // uninstall leaves it (changed, or a directory not empty)
	OpUndo      Op = "undo"     // put back as it was before an interrupted install
	OpComplete  Op = "complete" // an interrupted install's record, marked complete
)

// Action is one path install or uninstall handles.
type Action struct {
	Op   Op
	Path string // inside the root
	Note string
}

// Result is what Install or Uninstall did (or, on a dry run, would do).
type Result struct {
	Root    string
	Actions []Action
	DryRun  bool
}

// Changed says whether anything was (or would be) written or removed.
func (r *Result) Changed() bool {
	for _, a := range r.Actions {
		if a.Op != OpUnchanged && a.Op != OpSkip && a.Op != OpKeep {
			return true
		}
	}
	return false
}

// Action returns the action for path, if any.
func (r *Result) Action(p string) (Action, bool) {
	for _, a := range r.Actions {
		if a.Path == p {
			return a, true
		}
	}
	return Action{}, false
}

// manifest records what install wrote so that uninstall removes exactly
// that: the files with their SHA-256 and the directories it created.
type manifest struct {
	GeneratedBy string          `json:"generated_by"`
	Files       []manifestEntry `json:"files"`
	CreatedDirs []string        `json:"created_dirs,omitempty"`
	// While an install runs (State "pending"): each change and its
	// backup, and the directories this install made; while an uninstall
	// runs (State "uninstalling"), whether it was forced (see journal.go).
	State   string   `json:"state,omitempty"`
	Force   bool     `json:"force,omitempty"`
	Changes []change `json:"changes,omitempty"`
	NewDirs []string `json:"new_dirs,omitempty"`
}

type manifestEntry struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// InstallOptions say what to install where.
type InstallOptions struct {
	Root      string // "/" for this machine
	SysctlDir string // inside the root; DefaultSysctlDir when ""
	DropIn    []byte // Render's output
	Profile   []byte // the profile copy for the unit
	Unit      []byte // systemd/tcpka.service, running the binary UnitBinary chose
	// UnitErr, when set, is why there is no unit to write (UnitBinary's
	// refusal): Install fails with it, before writing anything, where it
	// would write the unit; where there is no systemd it does not matter.
	UnitErr error
	Force   bool // replace files tcpka did not generate
	DryRun  bool
}

type target struct {
	dir, name string
	data      []byte
	optional  bool  // skip when the directory is missing (no systemd)
	err       error // why data cannot be written (InstallOptions.UnitErr)
}

// Install writes the drop-in, the profile copy and the unit, each atomically,
// after checking all three: a foreign file, a symlink in the way, or a
// missing or read-only directory stops it before anything is written. If a
// write fails midway, the files already written get their old content back.
func Install(o InstallOptions) (*Result, error) {
	if o.Root == "" {
		o.Root = "/"
	}
	if o.SysctlDir == "" {
		o.SysctlDir = DefaultSysctlDir
	}
	res := &Result{Root: o.Root, DryRun: o.DryRun}
	if !o.DryRun {
		acts, err := Recover(o.Root)
		res.Actions = append(res.Actions, acts...)
		if err != nil {
			return res, err
		}
	}
	sysctlDir := path.Clean("/" + o.SysctlDir)
	targets := []target{
		{dir: sysctlDir, name: DropInName, data: o.DropIn},
		{dir: ConfigDir, name: path.Base(ProfileFile), data: o.Profile},
		{dir: UnitDir, name: UnitName, data: o.Unit, optional: true, err: o.UnitErr},
	}
	type planned struct {
		target
		d     *atomicfile.Dir
		state State
		old   []byte
		op    Op
	}
	var plan []*planned
	dirs := map[string]*atomicfile.Dir{}
	defer func() {
		for _, d := range dirs {
			d.Close()
		}
	}()
	var created, newDirs []string
	var dryCreates []manifestEntry // files a dry run would create in directories it would make
	var errs []error
	for _, t := range targets {
		p := path.Join(t.dir, t.name)
		d, ok := dirs[t.dir]
		if !ok {
			// tcpka makes its own directory, and the sysctl.d directory
			// when it is one the loaders read (a fresh image tree, a
			// minimal system), mode 0755 as the distributions have them;
			// uninstall removes them again if empty. A missing unit
			// directory means no systemd; a missing --sysctl-d elsewhere,
			// a typo.
			create := t.dir == ConfigDir || t.dir == sysctlDir && InDirs(t.dir)
			if create && o.DryRun {
				missing, err := atomicfile.Missing(o.Root, t.dir)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if len(missing) > 0 {
					for _, m := range missing {
						if !slices.Contains(created, m) {
							res.Actions = append(res.Actions, Action{Op: OpCreate, Path: m + "/"})
						}
					}
					res.Actions = append(res.Actions, Action{Op: OpCreate, Path: p})
					created = append(created, missing...)
					dryCreates = append(dryCreates, manifestEntry{Path: p, SHA256: sum(t.data)})
					continue
				}
			}
			var made []string
			var err error
			d, made, err = atomicfile.OpenDir(o.Root, t.dir, create && !o.DryRun)
			created = append(created, made...)
			newDirs = append(newDirs, made...)
			for _, m := range made {
				res.Actions = append(res.Actions, Action{Op: OpCreate, Path: m + "/"})
			}
			if errors.Is(err, ErrNoDir) && t.optional {
				res.Actions = append(res.Actions, Action{Op: OpSkip, Path: p, Note: where(o.Root, t.dir) + " does not exist (no systemd here): the drop-in alone sets the values at boot"})
				continue
			}
			if errors.Is(err, ErrNoDir) && !create {
				if _, rootErr := atomicfile.Missing(o.Root, "/"); rootErr == nil {
					err = fmt.Errorf("%w: --sysctl-d %s is not a directory the loaders read, the only ones tcpka makes (%s)", err, t.dir, strings.Join(Dirs, ", "))
				}
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			dirs[t.dir] = d
		}
		if t.err != nil {
			errs = append(errs, t.err)
			continue
		}
		st, old, err := existing(d, t.name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pl := &planned{target: t, d: d, state: st, old: old}
		switch st {
		case Absent:
			pl.op = OpCreate
		case Ours:
			pl.op = OpUpdate
			if bytes.Equal(old, t.data) {
				pl.op = OpUnchanged
			}
		case Foreign, Link:
			if !o.Force && st == Link {
				errs = append(errs, fmt.Errorf("%s is a symbolic link, %w; tcpka does not follow it: remove it, or pass --force to replace the link itself", where(o.Root, p), ErrForeign))
				continue
			}
			if !o.Force {
				errs = append(errs, fmt.Errorf("%s exists and was %w (no %q header): move it away, or pass --force to replace it", where(o.Root, p), ErrForeign, Marker))
				continue
			}
			pl.op = OpReplace
		default:
			errs = append(errs, fmt.Errorf("%s: exists and is not a regular file", where(o.Root, p)))
			continue
		}
		plan = append(plan, pl)
		res.Actions = append(res.Actions, Action{Op: pl.op, Path: p})
	}
	if len(errs) > 0 {
		removeDirs(o.Root, newDirs)
		return res, joinUnique(errs)
	}

	// A previous install may have put its drop-in elsewhere (--sysctl-d):
	// that one goes, so only one tcpka drop-in is ever in place.
	prev, _ := readManifest(o.Root)
	var stale []manifestEntry
	if prev != nil {
		for _, e := range prev.Files {
			if _, ok := res.Action(e.Path); !ok {
				stale = append(stale, e)
				res.Actions = append(res.Actions, Action{Op: OpRemove, Path: e.Path, Note: "left by the previous install"})
			}
		}
		created = append(created, prev.CreatedDirs...)
	}
	if o.DryRun {
		// The record, as the real run would write it.
		m := &manifest{GeneratedBy: Marker, CreatedDirs: dedup(created)}
		changed := len(stale) > 0 || len(dryCreates) > 0
		for _, pl := range plan {
			m.Files = append(m.Files, manifestEntry{Path: path.Join(pl.dir, pl.name), SHA256: sum(pl.data)})
			changed = changed || pl.op != OpUnchanged
		}
		m.Files = append(m.Files, dryCreates...)
		sort.SliceStable(m.Files, func(i, j int) bool {
			return targetIndex(m.Files[i].Path, targets) < targetIndex(m.Files[j].Path, targets)
		})
		mop, _ := manifestOp(dirs[ConfigDir], m, changed)
		res.Actions = append(res.Actions, Action{Op: mop, Path: ManifestFile, Note: "what uninstall removes"})
		return res, nil
	}

	// The transaction (journal.go): backups, pending record, files,
	// complete record, no backups.
	var changes []change
	backup := func(d *atomicfile.Dir, p, name string, st State, newSum string) error {
		c := change{Path: p, SHA256: newSum}
		if st != Absent {
			b, err := takeBackup(d, name)
			if err != nil {
				return err
			}
			c.Backup = b
		}
		changes = append(changes, c)
		return nil
	}
	m := &manifest{GeneratedBy: Marker, CreatedDirs: dedup(created)}
	for _, pl := range plan {
		p := path.Join(pl.dir, pl.name)
		m.Files = append(m.Files, manifestEntry{Path: p, SHA256: sum(pl.data)})
		if pl.op == OpUnchanged {
			continue
		}
		if err := backup(pl.d, p, pl.name, pl.state, sum(pl.data)); err != nil {
			return res, errors.Join(err, undoAll(o.Root, changes, newDirs))
		}
	}
	for _, e := range stale {
		err := withDir(o.Root, e.Path, func(d *atomicfile.Dir, name string) error {
			if st, data, err := existing(d, name); err != nil || st != Ours || sum(data) != e.SHA256 {
				return err // changed since: left alone, as before
			}
			return backup(d, e.Path, name, Ours, "")
		})
		if err != nil && !errors.Is(err, ErrNoDir) {
			return res, errors.Join(err, undoAll(o.Root, changes, newDirs))
		}
	}
	mop, mst := manifestOp(dirs[ConfigDir], m, len(changes) > 0)
	if mop != OpUnchanged {
		if err := backup(dirs[ConfigDir], ManifestFile, path.Base(ManifestFile), mst, ""); err != nil {
			return res, errors.Join(err, undoAll(o.Root, changes, newDirs))
		}
		pending := *m
		pending.State, pending.Changes, pending.NewDirs = pendingState, changes, newDirs
		if err := writeManifest(o.Root, &pending); err != nil {
			return res, errors.Join(err, undoAll(o.Root, changes, newDirs))
		}
		for _, pl := range plan {
			if pl.op == OpUnchanged {
				continue
			}
			if err := pl.d.WriteFile(pl.name, pl.data, FileMode); err != nil {
				return res, errors.Join(err, undoAll(o.Root, changes, newDirs))
			}
		}
		for _, c := range changes {
			if c.SHA256 == "" && c.Path != ManifestFile {
				if err := withDir(o.Root, c.Path, func(d *atomicfile.Dir, name string) error { return d.Remove(name) }); err != nil {
					return res, errors.Join(err, undoAll(o.Root, changes, newDirs))
				}
			}
		}
		if err := writeManifest(o.Root, m); err != nil {
			return res, errors.Join(err, undoAll(o.Root, changes, newDirs))
		}
		for _, c := range changes {
			_ = dropBackup(o.Root, c)
		}
	}
	res.Actions = append(res.Actions, Action{Op: mop, Path: ManifestFile, Note: "what uninstall removes"})
	return res, nil
}

// manifestOp is what writing the complete record m does to the record in
// d (nil: a directory yet to be made), and the record's state there;
// changed says whether any file changes.
func manifestOp(d *atomicfile.Dir, m *manifest, changed bool) (Op, State) {
	if d == nil {
		return OpCreate, Absent
	}
	complete, _ := json.MarshalIndent(m, "", "  ")
	complete = append(complete, '\n')
	st, old, err := existing(d, path.Base(ManifestFile))
	switch {
	case err != nil || st == Absent:
		return OpCreate, st
	case bytes.Equal(old, complete) && !changed:
		return OpUnchanged, st
	}
	return OpUpdate, st
}

// targetIndex is the position of the target at p, for the record's order.
func targetIndex(p string, targets []target) int {
	for i, t := range targets {
		if path.Join(t.dir, t.name) == p {
			return i
		}
	}
	return len(targets)
}

// joinUnique joins errors, each message once: a missing root fails every
// target the same way.
func joinUnique(errs []error) error {
	seen := map[string]bool{}
	var out []error
	for _, e := range errs {
		if !seen[e.Error()] {
			seen[e.Error()] = true
			out = append(out, e)
		}
	}
	return errors.Join(out...)
}

func dedup(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// readManifest returns the install record, nil when there is none.
func readManifest(root string) (*manifest, error) {
	d, _, err := atomicfile.OpenDir(root, ConfigDir, false)
	if errors.Is(err, ErrNoDir) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	st, data, err := existing(d, path.Base(ManifestFile))
	switch {
	case err != nil:
		return nil, err
	case st == Absent:
		return nil, nil
	case st != Ours:
		return nil, fmt.Errorf("%s: %w", where(root, ManifestFile), ErrForeign)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", where(root, ManifestFile), err)
	}
	return &m, nil
}

// Enabled lists the unit's enablement symlinks (*.wants/, *.requires/)
// under root's /etc/systemd/system. It reads that directory once and looks
// for the unit in each *.wants and *.requires entry (what filepath.Glob
// of the two patterns finds, without listing every .wants directory
// twice: tcpka show calls this at every run).
func Enabled(root string) []string {
	dir := filepath.Join(root, UnitDir)
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	names, _ := f.Readdirnames(-1)
	f.Close()
	var out []string
	for _, n := range names {
		if !strings.HasSuffix(n, ".wants") && !strings.HasSuffix(n, ".requires") {
			continue
		}
		p := filepath.Join(dir, n, UnitName)
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, "/"+filepath.ToSlash(rel))
	}
	sort.Strings(out)
	return out
}

// Uninstall removes exactly what Install recorded: each file only if it
// still holds what install wrote (force: also if changed but still tcpka's),
// then the record, then the directories install created if they are empty.
// It refuses while tcpka.service is enabled, and changes nothing when any
// file is in doubt.
func Uninstall(root string, force bool) (*Result, error) {
	if root == "" {
		root = "/"
	}
	res := &Result{Root: root}
	if d, _, err := atomicfile.OpenDir(root, "/", false); err != nil {
		return res, err
	} else {
		d.Close()
	}
	acts, err := Recover(root)
	res.Actions = append(res.Actions, acts...)
	if err != nil {
		return res, err
	}
	m, err := readManifest(root)
	if err != nil {
		return res, err
	}
	if m == nil {
		return res, nil
	}
	if en := Enabled(root); len(en) > 0 {
		return res, fmt.Errorf("%w (%s): run systemctl disable tcpka.service first", ErrEnabled, where(root, en[0]))
	}
	var errs []error
	for _, e := range m.Files {
		d, _, err := atomicfile.OpenDir(root, path.Dir(e.Path), false)
		if errors.Is(err, ErrNoDir) {
			continue // finishUninstall says it is already gone
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st, data, err := existing(d, path.Base(e.Path))
		d.Close()
		switch {
		case err != nil:
			errs = append(errs, err)
		case st == Absent, st == Ours && (sum(data) == e.SHA256 || force):
			// finishUninstall removes it, or says it is already gone
		case st == Ours:
			errs = append(errs, fmt.Errorf("%s: %w: pass --force to remove it anyway", where(root, e.Path), ErrChanged))
		default:
			errs = append(errs, fmt.Errorf("%s: %w and no longer tcpka's (replaced by another file): remove it yourself if it should go", where(root, e.Path), ErrChanged))
		}
	}
	if len(errs) > 0 {
		return res, errors.Join(errs...)
	}
	// The intent first (journal.go): the record, marked uninstalling,
	// names what goes. A run killed from here on leaves it for show to
	// name and for the next install or uninstall to complete.
	j := *m
	j.State, j.Force = uninstallState, force
	if err := writeManifest(root, &j); err != nil {
		return res, err
	}
	acts, err = finishUninstall(root, &j, "")
	res.Actions = append(res.Actions, acts...)
	return res, err
}

// ProfileCopy is what install writes to /etc/tcpka/profile.yaml: the
// profile's own text under a header, with its name added when the text did
// not state one (the copy's file name would otherwise name it "profile").
// The copy is decoded again and must give the same profile.
func ProfileCopy(p *profile.Profile) ([]byte, error) {
	from := p.Origin
	if from == "shipped" {
		from = "the shipped profile " + p.Name
	}
	head := fmt.Sprintf("# %s: %s (tcpka install rewrites it).\n# Copied from %s; tcpka.service applies it at boot.\n", ProfileFile, Marker, from)
	out := []byte(head + string(p.Raw))
	q, err := profile.Decode(ProfileFile, "profile", out)
	if err == nil && q.Name != p.Name {
		out = []byte(head + "name: " + p.Name + "\n" + string(p.Raw))
		q, err = profile.Decode(ProfileFile, "profile", out)
	}
	if err != nil || q.Settings != p.Settings || q.Name != p.Name {
		return nil, fmt.Errorf("%s: the copy does not decode to the same profile", p.Origin)
	}
	return out, nil
}

// BootWarnings says what keeps a drop-in for settings s at dropIn (a path
// inside r's root, in directory sysctlDir) from setting the values at
// boot: a directory the loaders do not read, a file of the same name that
// masks it, another file that overrides a key, /etc/sysctl.conf that only
// procps reads. Each warning says how to fix it.
func BootWarnings(r *Resolution, s keepalive.Settings, sysctlDir, dropIn string) []string {
	var out []string
	if !InDirs(sysctlDir) {
		out = append(out, fmt.Sprintf("%s is not read at boot: systemd-sysctl and sysctl --system read %s", sysctlDir, strings.Join(Dirs, ", ")))
	}
	for _, m := range r.Masked {
		if m.Path == dropIn {
			out = append(out, fmt.Sprintf("%s is masked by %s (same name, earlier directory): the loaders never read it", m.Path, m.By))
		}
	}
	for _, key := range sysctl.SetKeys(s) {
		v := r.Lookup(key)
		if v.Overridden() {
			out = append(out, fmt.Sprintf("%s: %s overrides %s with %s = %s; fix: %s", key.Sysctl, v.Systemd.Where(), v.Tcpka.Where(), v.Systemd.Dotted(), v.Systemd.Value, r.Fix(*v.Systemd)))
		}
		if v.ProcpsDiffers() && v.Procps != nil {
			out = append(out, fmt.Sprintf("%s: sysctl --system (procps) reads %s last: it sets %s, systemd-sysctl does not read it; fix: %s", key.Sysctl, v.Procps.Where(), v.Procps.Value, r.Fix(*v.Procps)))
		}
	}
	return out
}
