package enforce

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/tcpka/tcpka/internal/atomicfile"
	"github.com/tcpka/tcpka/internal/keepalive"
	"golang.org/x/sys/unix"
)

// Sentinel errors a caller decides on.
var (
	// ErrPermission: the kernel refused bpf(2), mount(2) or a pin.
	ErrPermission = errors.New("no BPF permission")
	// ErrNotEnforced: Remove found no tcpka attachment for the cgroup.
	ErrNotEnforced = errors.New("not enforced")
)

// DefaultBPFRoot is where bpffs is (or gets) mounted; pins go below
// DefaultBPFRoot/tcpka.
const DefaultBPFRoot = "/sys/fs/bpf"

// Store keeps the attachments: pinned links below BPFRoot/tcpka (bpffs), and
// beside each a small record (profile name, cgroup path, time) below
// RunDir/tcpka/enforce. Both live in memory file systems and go away at
// reboot together. The values themselves are always read back from the
// loaded program.
type Store struct {
	BPFRoot string // bpffs mount point, DefaultBPFRoot
	RunDir  string // /run
	// Cgroup2 is the cgroup2 mount point, used to name a cgroup whose
	// record is missing.
	Cgroup2 string
}

func (st Store) pinDir() string { return filepath.Join(st.BPFRoot, "tcpka") }

// recordDir opens the private directory of the records (root-owned 0700,
// refused otherwise: a forged record would name another cgroup).
func (st Store) recordDir() (*atomicfile.Dir, error) {
	return atomicfile.PrivateDir(st.RunDir, "tcpka/enforce")
}

// pinName is the bpffs name of a cgroup's link: bpffs refuses names with '.'.
func pinName(id uint64) string { return "cgroup_" + strconv.FormatUint(id, 10) }

// Attachment is one program attached to one cgroup.
type Attachment struct {
	Pin      string             // path of the pinned link
	Cgroup   string             // cgroup directory ("" when unknown)
	CgroupID uint64             // 0 once the cgroup is gone
	Detached bool               // the cgroup was removed: the link applies to nothing
	Settings keepalive.Settings // read back from the program
	Profile  string             // profile name, from the record
	Attached time.Time          // when tcpka attached it (zero when unknown)
	LinkID   uint32
	ProgID   uint32
	Insns    int // instructions of the loaded program
}

// record is the JSON kept beside a pin.
type record struct {
	Profile  string    `json:"profile"`
	Cgroup   string    `json:"cgroup"`
	CgroupID uint64    `json:"cgroup_id"`
	Attached time.Time `json:"attached"`
}

// Result says what Attach did.
type Result struct {
	Attachment
	Action   string              // "attached", "replaced", "unchanged", "would attach", "would replace"
	Previous *keepalive.Settings // the values replaced
	Stale    []string            // pins of removed cgroups with the same path, cleaned up
}

// raiseMemlock lifts RLIMIT_MEMLOCK for this process: kernels before 5.11
// charge BPF programs and maps against it (later ones charge the memory
// cgroup and ignore it, so raising it there changes nothing). This is what
// cilium/ebpf's rlimit.RemoveMemlock does on old kernels; that package is
// not imported because its init probes by lowering the limit and creating
// a BPF map, a bpf(2) call plus a mountinfo parse at every tcpka start,
// show included, which never loads a program.
func raiseMemlock() error {
	return unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY})
}

// Load assembles and loads the program for s without attaching it. The
// caller closes it.
func Load(s keepalive.Settings) (*ebpf.Program, error) {
	insns, err := Instructions(s)
	if err != nil {
		return nil, err
	}
	if err := raiseMemlock(); err != nil && !errors.Is(err, unix.EPERM) {
		return nil, fmt.Errorf("raise the memlock limit for BPF: %w", err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         ProgramName,
		Type:         ebpf.SockOps,
		Instructions: insns,
		License:      "GPL",
	})
	if err != nil {
		return nil, explainBPF("load the sock_ops program", err)
	}
	return prog, nil
}

// explainBPF turns EPERM/EACCES into ErrPermission with what to do.
func explainBPF(what string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%s: %w: %v: needs root (CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN), and no lockdown, seccomp or LSM policy forbidding bpf(2)", what, ErrPermission, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// ensureBPFFS mounts bpffs at BPFRoot unless one is there, and makes the
// tcpka directory.
func (st Store) ensureBPFFS() error {
	var sfs unix.Statfs_t
	if err := unix.Statfs(st.BPFRoot, &sfs); err != nil {
		return fmt.Errorf("bpffs %s: %w", st.BPFRoot, err)
	}
	if sfs.Type != unix.BPF_FS_MAGIC {
		if err := unix.Mount("bpf", st.BPFRoot, "bpf", 0, "mode=0700"); err != nil {
			return explainBPF("mount bpffs on "+st.BPFRoot, err)
		}
	}
	if err := os.Mkdir(st.pinDir(), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return explainBPF("make "+st.pinDir(), err)
	}
	return nil
}

// isBPFFS says whether BPFRoot is a mounted bpffs.
func (st Store) isBPFFS() bool {
	var sfs unix.Statfs_t
	return unix.Statfs(st.BPFRoot, &sfs) == nil && sfs.Type == unix.BPF_FS_MAGIC
}

// Attach attaches the program for s to cg and pins the link, or replaces the
// program of the link tcpka pinned there before. Values are validated
// before anything is loaded. With dryRun it only checks and says what it
// would do.
func (st Store) Attach(cg Cgroup, profileName string, s keepalive.Settings, dryRun bool) (Result, error) {
	if _, err := Instructions(s); err != nil {
		return Result{}, err
	}
	if err := CheckKernel(); err != nil {
		return Result{}, err
	}
	pin := filepath.Join(st.pinDir(), pinName(cg.ID))
	res := Result{Attachment: Attachment{Pin: pin, Cgroup: cg.Path, CgroupID: cg.ID, Settings: s, Profile: profileName}}
	var existing link.Link
	if st.isBPFFS() {
		if l, err := link.LoadPinnedLink(pin, nil); err == nil {
			existing = l
			defer l.Close()
		} else if !errors.Is(err, fs.ErrNotExist) {
			return res, explainBPF("open pinned link "+pin, err)
		}
	}
	if existing != nil {
		a, err := st.describe(pin, existing)
		if err != nil {
			return res, err
		}
		if a.Settings == s {
			res.Action = "unchanged"
			res.Attachment = a
			if a.Profile != profileName {
				res.Profile = profileName
				if !dryRun {
					_ = st.writeRecord(pin, record{Profile: profileName, Cgroup: cg.Path, CgroupID: cg.ID, Attached: a.Attached})
				}
			}
			return res, nil
		}
		prev := a.Settings
		res.Previous = &prev
	}
	if dryRun {
		res.Action = "would attach"
		if existing != nil {
			res.Action = "would replace"
		}
		return res, nil
	}
	if err := st.ensureBPFFS(); err != nil {
		return res, err
	}
	prog, err := Load(s)
	if err != nil {
		return res, err
	}
	defer prog.Close()
	if existing != nil {
		if err := existing.Update(prog); err != nil {
			return res, explainBPF("replace the program on "+cg.Path, err)
		}
		res.Action = "replaced"
	} else {
		l, err := link.AttachCgroup(link.CgroupOptions{Path: cg.Path, Attach: ebpf.AttachCGroupSockOps, Program: prog})
		if err != nil {
			return res, explainBPF("attach to cgroup "+cg.Path, err)
		}
		defer l.Close()
		if err := l.Pin(pin); err != nil {
			// Closing the unpinned link detaches it: nothing is left behind.
			return res, explainBPF("pin the link at "+pin, err)
		}
		res.Action = "attached"
	}
	res.Attached = time.Now().UTC().Truncate(time.Second)
	if err := st.writeRecord(pin, record{Profile: profileName, Cgroup: cg.Path, CgroupID: cg.ID, Attached: res.Attached}); err != nil {
		return res, err
	}
	if info, err := prog.Info(); err == nil {
		if id, ok := info.ID(); ok {
			res.ProgID = uint32(id)
		}
	}
	insns, _ := Instructions(s)
	res.Insns = len(insns)
	res.Stale = st.removeStale(cg)
	return res, nil
}

// removeStale removes pins whose cgroup is gone but had cg's path: systemd
// recreated the cgroup (a service restart), so the old link applies to
// nothing.
func (st Store) removeStale(cg Cgroup) []string {
	list, err := st.List()
	if err != nil {
		return nil
	}
	var removed []string
	for _, a := range list {
		if a.Detached && a.Cgroup == cg.Path && a.Pin != filepath.Join(st.pinDir(), pinName(cg.ID)) {
			if st.removePin(a.Pin) == nil {
				removed = append(removed, a.Pin)
			}
		}
	}
	return removed
}

func recordName(pin string) string { return filepath.Base(pin) + ".json" }

func (st Store) writeRecord(pin string, r record) error {
	d, err := st.recordDir()
	if err != nil {
		return fmt.Errorf("record the attachment: %w", err)
	}
	defer d.Close()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := d.WriteFile(recordName(pin), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("record the attachment: %w", err)
	}
	return nil
}

func (st Store) readRecord(pin string) (record, bool) {
	var r record
	d, err := st.recordDir()
	if err != nil {
		return r, false
	}
	defer d.Close()
	b, err := d.ReadPrivate(recordName(pin), 64<<10)
	if err != nil || json.Unmarshal(b, &r) != nil {
		return record{}, false
	}
	return r, true
}

func (st Store) removeRecord(pin string) error {
	d, err := st.recordDir()
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Remove(recordName(pin))
}

// describe reads one pinned link back from the kernel.
func (st Store) describe(pin string, l link.Link) (Attachment, error) {
	a := Attachment{Pin: pin}
	info, err := l.Info()
	if err != nil {
		return a, fmt.Errorf("%s: link info: %w", pin, err)
	}
	a.LinkID = uint32(info.ID)
	a.ProgID = uint32(info.Program)
	if c := info.Cgroup(); c != nil {
		a.CgroupID = c.CgroupId
	}
	a.Detached = a.CgroupID == 0
	prog, err := ebpf.NewProgramFromID(info.Program)
	if err != nil {
		return a, explainBPF(fmt.Sprintf("%s: open program %d", pin, info.Program), err)
	}
	defer prog.Close()
	pi, err := prog.Info()
	if err != nil {
		return a, fmt.Errorf("%s: program info: %w", pin, err)
	}
	insns, err := pi.Instructions()
	if err != nil {
		return a, explainBPF(fmt.Sprintf("%s: read program %d", pin, info.Program), err)
	}
	a.Insns = len(insns)
	if a.Settings, err = Decode(insns); err != nil {
		return a, fmt.Errorf("%s: program %d %q: %w", pin, info.Program, pi.Name, err)
	}
	r, ok := st.readRecord(pin)
	switch {
	case ok && (a.Detached || r.CgroupID == a.CgroupID):
		a.Cgroup, a.Profile, a.Attached = r.Cgroup, r.Profile, r.Attached
	case !a.Detached && st.Cgroup2 != "":
		a.Cgroup = cgroupByID(st.Cgroup2, a.CgroupID)
	}
	if a.Attached.IsZero() {
		if lt, ok := pi.LoadTime(); ok {
			a.Attached = bootTime().Add(lt).UTC().Truncate(time.Second)
		}
	}
	return a, nil
}

// bootTime is wall-clock time at boot (program load times count from it).
func bootTime() time.Time {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return time.Time{}
	}
	return time.Now().Add(-time.Duration(ts.Nano()))
}

// List reads every attachment tcpka pinned, sorted by cgroup path.
func (st Store) List() ([]Attachment, error) {
	if !st.isBPFFS() {
		return nil, nil
	}
	entries, err := os.ReadDir(st.pinDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, explainBPF("list "+st.pinDir(), err)
	}
	var out []Attachment
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "cgroup_") {
			continue
		}
		pin := filepath.Join(st.pinDir(), e.Name())
		l, err := link.LoadPinnedLink(pin, nil)
		if err != nil {
			return nil, explainBPF("open pinned link "+pin, err)
		}
		a, err := st.describe(pin, l)
		l.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Cgroup != out[j].Cgroup {
			return out[i].Cgroup < out[j].Cgroup
		}
		return out[i].Pin < out[j].Pin
	})
	return out, nil
}

// Remove detaches the program tcpka attached to the cgroup at path and
// removes its pin and record. A path whose cgroup is gone is found through
// the records.
func (st Store) Remove(path string) ([]Attachment, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	list, err := st.List()
	if err != nil {
		return nil, err
	}
	var id uint64
	if cg, err := OpenCgroup(abs); err == nil {
		id = cg.ID
	}
	var removed []Attachment
	for _, a := range list {
		if (id != 0 && a.CgroupID == id) || a.Cgroup == abs {
			if err := st.removePin(a.Pin); err != nil {
				return removed, err
			}
			removed = append(removed, a)
		}
	}
	if len(removed) == 0 {
		return nil, fmt.Errorf("cgroup %s: %w by tcpka (tcpka enforce --list shows what is)", path, ErrNotEnforced)
	}
	return removed, nil
}

// removePin detaches the link, unpins it and deletes its record.
func (st Store) removePin(pin string) error {
	l, err := link.LoadPinnedLink(pin, nil)
	if err != nil {
		return explainBPF("open pinned link "+pin, err)
	}
	defer l.Close()
	if err := l.Detach(); err != nil && !errors.Is(err, link.ErrNotSupported) {
		return explainBPF("detach "+pin, err)
	}
	if err := l.Unpin(); err != nil {
		return explainBPF("unpin "+pin, err)
	}
	return st.removeRecord(pin)
}

// NewStore is the store of a machine whose procfs is at procRoot (its
// mountinfo names the cgroup2 mount), with state below runDir and bpffs at
// bpfRoot ("" is DefaultBPFRoot).
func NewStore(procRoot, runDir, bpfRoot string) Store {
	st := Store{BPFRoot: bpfRoot, RunDir: runDir}
	if st.BPFRoot == "" {
		st.BPFRoot = DefaultBPFRoot
	}
	if mi, err := os.Open(filepath.Join(procRoot, "self", "mountinfo")); err == nil {
		st.Cgroup2, _, _ = Cgroup2Mount(mi)
		mi.Close()
	}
	return st
}

// Live counts the attachments whose cgroup still exists: how many cgroups
// give new connections a profile's values instead of the sysctls.
func (st Store) Live() (int, error) {
	list, err := st.List()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range list {
		if !a.Detached {
			n++
		}
	}
	return n, nil
}
