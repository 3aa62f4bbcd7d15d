package bootcfg

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/tcpka/tcpka/internal/atomicfile"
	"golang.org/x/sys/unix"
)

// An install changes up to five files (drop-in, profile copy, unit, the
// record, a drop-in a previous install left elsewhere). It is made crash
// consistent like this:
//
//  1. every file it will replace or remove gets a backup: a hard link
//     ".NAME.tcpka-backup" in the same directory, which keeps the file
//     exactly (any size, owner, mode; a symlink stays a symlink);
//  2. the record (install.json) is rewritten as "pending", listing each
//     change and its backup: the intent;
//  3. the files are written (atomically) and removed;
//  4. the record is rewritten complete; 5. the backups go.
//
// A run killed anywhere leaves either the old files, the new ones, or a
// pending record, which the next install or uninstall completes (when
// every file already holds what the install wrote) or undoes (renaming
// each backup back, removing what the install created). A failed write
// undoes at once, and reports what it could not put back.

// change is one file an install changes, and how to put it back.
type change struct {
	Path   string `json:"path"`             // inside the root
	Backup string `json:"backup,omitempty"` // its backup's name in the same directory; "" when there was no file
	SHA256 string `json:"sha256,omitempty"` // what the install writes there; "" when it removes the file
}

// pendingState marks a record written before the files it lists.
const pendingState = "pending"

// An uninstall journals its intent the same way: the record, rewritten
// "uninstalling" (atomically) before the first file goes, lists what it
// removes; then the files go, the directories install made (if empty),
// the record, and tcpka's own directory last. A run killed anywhere leaves
// the install, nothing, or an uninstalling record, which show names and
// the next install or uninstall completes.
const uninstallState = "uninstalling"

const backupSuffix = ".tcpka-backup"

func backupName(name string) string { return "." + name + backupSuffix }

// withDir runs fn with the directory of p (inside root) open.
func withDir(root, p string, fn func(d *atomicfile.Dir, name string) error) error {
	d, _, err := atomicfile.OpenDir(root, path.Dir(p), false)
	if err != nil {
		return err
	}
	defer d.Close()
	return fn(d, path.Base(p))
}

// takeBackup links name to its backup name, replacing a stale backup.
func takeBackup(d *atomicfile.Dir, name string) (string, error) {
	b := backupName(name)
	if err := unix.Unlinkat(d.Fd(), b, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return "", fmt.Errorf("backup %s/%s: %w", d.Where(), name, atomicfile.Classify(err))
	}
	if err := unix.Linkat(d.Fd(), name, d.Fd(), b, 0); err != nil {
		return "", fmt.Errorf("backup %s/%s: %w", d.Where(), name, atomicfile.Classify(err))
	}
	return b, d.Sync()
}

// undoChange puts one file back: its backup renamed over it, or, when
// there was no file, the file removed if it holds what the install wrote.
func undoChange(root string, c change) error {
	return withDir(root, c.Path, func(d *atomicfile.Dir, name string) error {
		d.CleanTemps(name)
		if c.Backup != "" {
			kind, _, err := d.Stat(c.Backup)
			if err != nil {
				return err
			}
			if kind == atomicfile.Absent {
				return nil // killed before the backup was taken: nothing was changed yet
			}
			if err := unix.Renameat(d.Fd(), c.Backup, d.Fd(), name); err != nil {
				return fmt.Errorf("restore %s: %w", atomicfile.Where(root, c.Path), atomicfile.Classify(err))
			}
			// rename of a link onto the same file does nothing: unlink it.
			if err := unix.Unlinkat(d.Fd(), c.Backup, 0); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("restore %s: %w", atomicfile.Where(root, c.Path), err)
			}
			return d.Sync()
		}
		st, data, err := existing(d, name)
		if err != nil || st == Absent {
			return err
		}
		if st == Ours && sum(data) == c.SHA256 {
			return d.Remove(name)
		}
		return nil // not what the install wrote: someone else's now
	})
}

// done says whether the file already holds what the install meant.
func done(root string, c change) bool {
	ok := false
	_ = withDir(root, c.Path, func(d *atomicfile.Dir, name string) error {
		st, data, err := existing(d, name)
		switch {
		case err != nil:
		case c.SHA256 == "":
			ok = st == Absent
		default:
			ok = st == Ours && sum(data) == c.SHA256
		}
		return nil
	})
	return ok
}

// dropBackup removes a change's backup once the install is complete.
func dropBackup(root string, c change) error {
	if c.Backup == "" {
		return nil
	}
	return withDir(root, c.Path, func(d *atomicfile.Dir, _ string) error { return d.Remove(c.Backup) })
}

// undoAll puts every change back, the record last, and reports every file
// it could not restore.
func undoAll(root string, changes []change, newDirs []string) error {
	var errs []error
	var record *change
	for i := len(changes) - 1; i >= 0; i-- {
		if changes[i].Path == ManifestFile {
			record = &changes[i]
			continue
		}
		if err := undoChange(root, changes[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if record != nil && len(errs) == 0 {
		// Without a backup there was no record: the pending one goes too.
		rc := *record
		if rc.Backup == "" {
			err := withDir(root, rc.Path, func(d *atomicfile.Dir, name string) error { return d.Remove(name) })
			if err != nil {
				errs = append(errs, err)
			}
		} else if err := undoChange(root, rc); err != nil {
			errs = append(errs, err)
		}
	}
	removeDirs(root, newDirs)
	if len(errs) > 0 {
		return fmt.Errorf("the old files could not all be put back: %w", errors.Join(errs...))
	}
	return nil
}

// removeDirs removes the directories an install made, deepest first, if
// they are empty.
func removeDirs(root string, dirs []string) {
	ds := append([]string(nil), dirs...)
	sort.Sort(sort.Reverse(sort.StringSlice(ds)))
	for _, c := range ds {
		if d, _, err := atomicfile.OpenDir(root, path.Dir(c), false); err == nil {
			d.RemoveDir(path.Base(c))
			d.Close()
		}
	}
}

// Recover finishes or undoes an install that was killed: with a pending
// record, it completes the install when every file already holds what it
// wrote, and otherwise puts the old files back. It also removes backups
// and temporary files a killed run left. Install and Uninstall run it
// first; it says what it did.
func Recover(root string) ([]Action, error) {
	m, err := readManifest(root)
	if err != nil {
		return nil, err
	}
	if m != nil && m.State == uninstallState {
		acts, err := finishUninstall(root, m, "an interrupted uninstall had not removed it yet")
		if err != nil {
			return acts, fmt.Errorf("complete an interrupted uninstall: %w", err)
		}
		return acts, nil
	}
	if m == nil || m.State != pendingState {
		cleanStray(root, m)
		if m == nil {
			// A run killed before its record was written leaves at most the
			// empty directory it made for it: tcpka's own, removed if empty.
			removeDirs(root, []string{ConfigDir})
		}
		return nil, nil
	}
	var acts []Action
	complete := true
	for _, c := range m.Changes {
		if c.Path != ManifestFile && !done(root, c) {
			complete = false
		}
	}
	if complete {
		m.State, m.NewDirs = "", nil
		changes := m.Changes
		m.Changes = nil
		if err := writeManifest(root, m); err != nil {
			return nil, err
		}
		for _, c := range changes {
			_ = dropBackup(root, c)
		}
		acts = append(acts, Action{Op: OpComplete, Path: ManifestFile, Note: "an interrupted install had written every file: completed"})
		cleanStray(root, m)
		return acts, nil
	}
	if err := undoAll(root, m.Changes, m.NewDirs); err != nil {
		return nil, fmt.Errorf("undo an interrupted install: %w", err)
	}
	for _, c := range m.Changes {
		if c.Path != ManifestFile {
			acts = append(acts, Action{Op: OpUndo, Path: c.Path, Note: "put back as it was before an interrupted install"})
		}
	}
	prev, _ := readManifest(root)
	cleanStray(root, prev)
	return acts, nil
}

// cleanStray removes the backups and temporary files a killed run left
// next to tcpka's files, when no install is pending: each backup is then
// a second link to a file that stayed in place.
func cleanStray(root string, m *manifest) {
	paths := map[string]bool{ManifestFile: true, ProfileFile: true, path.Join(UnitDir, UnitName): true}
	for _, dir := range append([]string{DefaultSysctlDir}, Dirs...) {
		paths[path.Join(dir, DropInName)] = true
	}
	if m != nil {
		for _, f := range m.Files {
			paths[f.Path] = true
		}
	}
	for p := range paths {
		_ = withDir(root, p, func(d *atomicfile.Dir, name string) error {
			d.CleanTemps(name)
			return d.Remove(backupName(name))
		})
	}
}

// writeManifest writes the record atomically.
func writeManifest(root string, m *manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return withDir(root, ManifestFile, func(d *atomicfile.Dir, name string) error {
		return d.WriteFile(name, append(b, '\n'), FileMode)
	})
}

// finishUninstall removes what the uninstalling record m lists: each file
// still holding what install wrote (or, forced, still tcpka's), the
// directories install made if empty, the record, and tcpka's directory.
// With a note (a run completing a killed one) the actions say "complete".
func finishUninstall(root string, m *manifest, note string) ([]Action, error) {
	op := OpRemove
	if note != "" {
		op = OpComplete
	}
	var acts []Action
	for _, e := range m.Files {
		if _, _, err := atomicfile.OpenDir(root, path.Dir(e.Path), false); errors.Is(err, ErrNoDir) {
			if note == "" {
				acts = append(acts, Action{Op: OpSkip, Path: e.Path, Note: "already gone"})
			}
			continue
		}
		err := withDir(root, e.Path, func(d *atomicfile.Dir, name string) error {
			st, data, err := existing(d, name)
			switch {
			case err != nil:
				return err
			case st == Absent:
				if note == "" {
					acts = append(acts, Action{Op: OpSkip, Path: e.Path, Note: "already gone"})
				}
				return nil
			case st == Ours && (sum(data) == e.SHA256 || m.Force):
				if err := d.Remove(name); err != nil {
					return err
				}
				acts = append(acts, Action{Op: op, Path: e.Path, Note: note})
				return nil
			}
			acts = append(acts, Action{Op: OpKeep, Path: e.Path, Note: "changed since the uninstall began: left alone"})
			return nil
		})
		if err != nil && !errors.Is(err, ErrNoDir) {
			return acts, err
		}
	}
	// The directories install made, deepest first: those that hold the
	// record (tcpka's own, and any it made above it) after the record.
	var last, dirActs []Action
	var after []string
	dirs := append([]string(nil), m.CreatedDirs...)
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, c := range dirs {
		if c == ConfigDir || strings.HasPrefix(ConfigDir, c+"/") {
			after = append(after, c)
			continue
		}
		if a, err := removeDir(root, c); err != nil {
			return acts, err
		} else if a.Op != "" {
			dirActs = append(dirActs, a)
		}
	}
	if err := withDir(root, ManifestFile, func(d *atomicfile.Dir, name string) error { return d.Remove(name) }); err != nil {
		return acts, err
	}
	recNote := note
	if note != "" {
		recNote = "an interrupted uninstall: completed"
	}
	acts = append(acts, Action{Op: op, Path: ManifestFile, Note: recNote})
	for _, c := range after {
		a, err := removeDir(root, c)
		if err != nil {
			return acts, err
		}
		if a.Op != "" {
			last = append(last, a)
		}
	}
	// In the order uninstall always listed them: deepest first.
	dirActs = append(dirActs, last...)
	sort.SliceStable(dirActs, func(i, j int) bool { return dirActs[i].Path > dirActs[j].Path })
	return append(acts, dirActs...), nil
}

// removeDir removes the directory p if it is empty: "remove", or "keep"
// when it holds files tcpka did not write; nothing when its parent is
// gone.
func removeDir(root, p string) (Action, error) {
	pd, _, err := atomicfile.OpenDir(root, path.Dir(p), false)
	if err != nil {
		return Action{}, nil
	}
	defer pd.Close()
	gone, err := pd.RemoveDir(path.Base(p))
	switch {
	case err != nil:
		return Action{}, err
	case gone:
		return Action{Op: OpRemove, Path: p + "/"}, nil
	}
	return Action{Op: OpKeep, Path: p + "/", Note: "not empty: holds files tcpka did not write"}, nil
}
