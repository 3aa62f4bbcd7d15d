package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/bootcfg"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
	"github.com/tcpka/tcpka/systemd"
)

type installFlags struct {
	sysctlDir, root string
	force, dryRun   bool
}

var cmdInstall = &Command{
	Name:      "install",
	UsageLine: "install PROFILE [--sysctl-d DIR] [--root DIR] [--force] [--dry-run]",
	Short:     "make a profile permanent: sysctl.d drop-in, profile copy, unit",
	Long: `Writes the drop-in 'tcpka render PROFILE' prints to /etc/sysctl.d/60-tcpka.conf,
copies the profile to /etc/tcpka/profile.yaml and installs tcpka.service
into /etc/systemd/system (skipped where that directory does not exist).
Enabling the unit is left to you ('systemctl enable tcpka.service'): it
applies the profile at boot after systemd-sysctl, so the profile holds even
when a later sysctl.d file sets the same keys.

The unit runs the tcpka binary that runs install, by its real path
(symlinks resolved). install refuses a binary the unit could not run at
boot: a 'go run' build (build tcpka and run that instead) or one below
/tmp, /var/tmp, /home or /root, which the unit's sandbox hides. Under
--root DIR the unit runs the tcpka inside DIR that runs install, or else
/usr/sbin/tcpka, where the package puts it.

Every file is written atomically (temporary file in the same directory,
fsync, rename, fsync of the directory), with mode 0644. Symlinks are not
followed. A file that tcpka did not generate is not overwritten without
--force. All three are checked before the first is written; if a write
fails, the files already written get their old content back. Afterwards
install resolves sysctl.d precedence and says if another file overrides a
key, and how to fix it. The runtime values are not changed: run 'tcpka
apply PROFILE' for that.

--root DIR prefixes every path (image builds, tests); install makes
/etc/sysctl.d (and /etc) where they are missing, mode 0755. --sysctl-d DIR
replaces /etc/sysctl.d; it must exist unless it is one of the directories
the loaders read. --dry-run lists the same actions as the real run.
'tcpka uninstall' removes exactly what install wrote, directories included.`,
	Examples: "sudo tcpka install ssh\ntcpka install aws-nlb --dry-run\ntcpka install ./edge.yaml --root /mnt/image",
	Bind: func(fs *pflag.FlagSet) Runner {
		f := &installFlags{}
		fs.StringVar(&f.sysctlDir, "sysctl-d", bootcfg.DefaultSysctlDir, "write the drop-in into `DIR` (inside --root)")
		fs.StringVar(&f.root, "root", "/", "prefix every path with `DIR`")
		fs.BoolVar(&f.force, "force", false, "replace files tcpka did not generate")
		fs.BoolVar(&f.dryRun, "dry-run", false, "print what would be written, write nothing")
		return func(env *Env, args []string) error { return runInstall(env, *f, args) }
	},
}

var cmdUninstall = &Command{
	Name:      "uninstall",
	UsageLine: "uninstall [--root DIR] [--force]",
	Short:     "remove exactly the files 'tcpka install' wrote",
	Long: `Removes the files listed in /etc/tcpka/install.json, which install keeps: the
drop-in, the profile copy, the unit, then the record itself and the
directories install created, if empty. A file that changed since install is
left alone and nothing is removed (--force removes files tcpka generated even
if edited). Refuses while tcpka.service is enabled. The runtime values stay
as they are: 'tcpka revert' restores the ones from before tcpka.`,
	Examples: "sudo systemctl disable tcpka.service && sudo tcpka uninstall\ntcpka uninstall --root /mnt/image",
	Bind: func(fs *pflag.FlagSet) Runner {
		root := fs.String("root", "/", "prefix every path with `DIR`")
		force := fs.Bool("force", false, "also remove files tcpka generated that were edited since")
		return func(env *Env, args []string) error { return runUninstall(env, *root, *force, args) }
	},
}

func runInstall(env *Env, f installFlags, args []string) error {
	installSysctlDir, installRoot, installForce, installDryRun := f.sysctlDir, f.root, f.force, f.dryRun
	if len(args) != 1 {
		return usagef("needs exactly one PROFILE")
	}
	if !path.IsAbs(installSysctlDir) {
		return usagef("--sysctl-d %q: must be an absolute path (inside --root)", installSysctlDir)
	}
	p, err := profile.Load(args[0])
	if err != nil {
		return err
	}
	copyData, err := bootcfg.ProfileCopy(p)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	dropIn := bootcfg.Render(p)
	bin, unit, unitErr := bootcfg.RunningUnit(installRoot)
	res, err := bootcfg.Install(bootcfg.InstallOptions{
		Root: installRoot, SysctlDir: installSysctlDir,
		DropIn: dropIn, Profile: copyData, Unit: unit, UnitErr: unitErr,
		Force: installForce, DryRun: installDryRun,
	})
	if err != nil {
		printRecovered(env.Stdout, res)
		return explainInstall(err, args[0], installRoot)
	}
	w := env.Stdout
	k := p.Applied(keepalive.KernelDefaults)
	data := ""
	if p.Settings.Retries2 != 0 {
		data = fmt.Sprintf("; tcp_retries2 %d: with data in flight after %s", k.Retries2, human.Seconds(detect.Net{}.Data(k)))
	}
	fmt.Fprintf(w, "profile %s (%s): %s, dead peer detected after %s%s\n", p.Name, p.Origin, k.Triple(), human.Seconds(detect.Idle(k)), data)
	if installRoot != "/" {
		fmt.Fprintf(w, "under root %s\n", installRoot)
	}
	for _, a := range res.Actions {
		line := fmt.Sprintf("  %-9s %s", a.Op, a.Path)
		if a.Note != "" {
			line += "  (" + a.Note + ")"
		}
		fmt.Fprintln(w, line)
	}
	dropInPath := path.Join(path.Clean(installSysctlDir), bootcfg.DropInName)
	if installDryRun {
		fmt.Fprintf(w, "dry run: nothing written; %s would hold:\n", dropInPath)
		for _, l := range strings.Split(strings.TrimSuffix(string(dropIn), "\n"), "\n") {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}

	// What will boot set? Resolve the tree as it is (or would be).
	r, err := bootcfg.Resolve(installRoot)
	if err != nil {
		return fmt.Errorf("install: resolve sysctl.d: %w", err)
	}
	if installDryRun {
		r = r.With(dropInPath, dropIn)
	}
	warnings := bootcfg.BootWarnings(r, p.Settings, installSysctlDir, dropInPath)
	for _, warn := range warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	if len(warnings) > 0 {
		fmt.Fprintln(w, "  (tcpka.service, once enabled, applies the profile after systemd-sysctl and wins at boot anyway; the fix stops sysctl --system runs from undoing it)")
	}
	if installDryRun {
		return nil
	}
	if a, ok := res.Action(path.Join(bootcfg.UnitDir, bootcfg.UnitName)); ok && a.Op != bootcfg.OpSkip {
		if _, err := os.Stat(filepath.Join(installRoot, bin)); err != nil {
			fmt.Fprintf(w, "note: the unit runs %s, which is not there%s: install the binary there\n", bin, rootNote(installRoot))
		}
		if a.Op != bootcfg.OpUnchanged && installRoot == "/" && bootcfg.SystemdBooted() {
			if out, err := exec.Command("systemctl", "daemon-reload").CombinedOutput(); err != nil {
				fmt.Fprintf(w, "warning: systemctl daemon-reload: %v: %s\n", err, strings.TrimSpace(string(out)))
			}
		}
		if len(bootcfg.Enabled(installRoot)) == 0 {
			fmt.Fprintln(w, "next: systemctl enable tcpka.service   (applies the profile at every boot)")
		}
	}
	// The running values: apply only where they differ (install writes
	// only what boot sets). On another root they are some other system's.
	if cur, err := env.NS().Read(); installRoot != "/" || err != nil || len(sysctl.Drift(p.Settings.Sysctls(), cur)) > 0 {
		fmt.Fprintf(w, "next: tcpka apply %s   (sets the values now; install changes only what boot sets)\n", printable(args[0]))
	} else {
		fmt.Fprintln(w, "the running values already match the profile: nothing to apply now")
	}
	return nil
}

// printRecovered prints what install or uninstall did to an interrupted
// install (completed it, or put files back) before it failed: those
// changes were made, and the error alone would not say so.
func printRecovered(w io.Writer, res *bootcfg.Result) {
	if res == nil {
		return
	}
	for _, a := range res.Actions {
		if a.Op == bootcfg.OpUndo || a.Op == bootcfg.OpComplete {
			fmt.Fprintf(w, "  %-9s %s  (%s)\n", a.Op, a.Path, a.Note)
		}
	}
}

func rootNote(root string) string {
	if root == "/" {
		return ""
	}
	return " under " + root
}

// explainInstall adds what to do to errors from writing below /etc and to
// a binary the unit cannot run; profile and root are install's.
func explainInstall(err error, profile, root string) error {
	bin, cmd := systemd.BinPath, "sudo "+systemd.BinPath+" install "+profile
	if root != "/" {
		bin = filepath.Join(root, systemd.BinPath)
		cmd = bin + " install " + profile + " --root " + root
	}
	again := fmt.Sprintf("copy it to %s and run install with that binary: %s", bin, cmd)
	switch {
	case errors.Is(err, bootcfg.ErrGoRun):
		return inputf("install: %w: build tcpka (go build -o tcpka ./cmd/tcpka, or go install), %s", err, again)
	case errors.Is(err, bootcfg.ErrHidden), errors.Is(err, systemd.ErrExecPath):
		return inputf("install: %w: %s", err, again)
	case errors.Is(err, bootcfg.ErrPermission) && os.Geteuid() == 0:
		return fmt.Errorf("install: refused although tcpka runs as root (a read-only bind mount, a security module, an immutable file): %w", err)
	case errors.Is(err, bootcfg.ErrPermission):
		return fmt.Errorf("install needs root to write below /etc: run it with sudo: %w", err)
	case errors.Is(err, bootcfg.ErrReadOnly):
		return fmt.Errorf("install: the file system is read-only (an immutable image? use --root on the build tree): %w", err)
	}
	return fmt.Errorf("install: %w", err)
}

func runUninstall(env *Env, uninstallRoot string, uninstallForce bool, args []string) error {
	if len(args) > 0 {
		return usagef("takes no arguments, got %q", args[0])
	}
	res, err := bootcfg.Uninstall(uninstallRoot, uninstallForce)
	if err != nil {
		printRecovered(env.Stdout, res)
		switch {
		case errors.Is(err, bootcfg.ErrPermission) && os.Geteuid() != 0:
			return fmt.Errorf("uninstall needs root to remove files below /etc: run it with sudo: %w", err)
		case errors.Is(err, bootcfg.ErrReadOnly):
			return fmt.Errorf("uninstall: the file system is read-only: %w", err)
		}
		return fmt.Errorf("uninstall: %w", err)
	}
	w := env.Stdout
	if len(res.Actions) == 0 {
		fmt.Fprintf(w, "nothing to uninstall: no %s%s\n", bootcfg.ManifestFile, rootNote(uninstallRoot))
		return nil
	}
	for _, a := range res.Actions {
		line := fmt.Sprintf("  %-9s %s", a.Op, a.Path)
		if a.Note != "" {
			line += "  (" + a.Note + ")"
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w, "the runtime values are unchanged: tcpka revert restores the ones from before tcpka")
	return nil
}
