package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/jsonout"
)

// version and revision may be set at link time by packaging
// (-ldflags "-X main.version=... -X main.revision=..."); otherwise they
// come from the build info the go command embeds.
var version, revision string

var cmdVersion = &Command{
	Name:      "version",
	UsageLine: "version [--json]",
	Short:     "print tcpka's version and VCS revision",
	Long: `Prints the module version, the VCS revision and commit time the binary was
built from, and the Go toolchain. Builds with -buildvcs=false (or outside a
git checkout) carry no revision: tcpka says so instead of inventing one.`,
	Examples: "tcpka version\ntcpka version --json",
	Bind: func(fs *pflag.FlagSet) Runner {
		asJSON := fs.Bool("json", false, "print one JSON object")
		return func(env *Env, args []string) error { return runVersion(env, *asJSON, args) }
	},
}

// buildInfo is what tcpka knows about its own build.
type buildInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Time      string `json:"time,omitempty"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: "(devel)", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if version != "" {
		b.Version = version
	}
	if revision != "" {
		b.Revision = revision
	}
	return b
}

func runVersion(env *Env, versionJSON bool, args []string) error {
	if len(args) > 0 {
		return usagef("takes no arguments, got %q", args[0])
	}
	b := readBuildInfo()
	if versionJSON {
		return jsonout.Write(env.Stdout, b)
	}
	fmt.Fprintf(env.Stdout, "tcpka %s\n", b.Version)
	switch {
	case b.Revision == "":
		fmt.Fprintln(env.Stdout, "revision unknown (no VCS stamp: built with -buildvcs=false, from a git worktree, or outside a checkout)")
	default:
		line := "revision " + b.Revision
		if b.Time != "" {
			line += " (" + b.Time + ")"
		}
		if b.Modified {
			line += " with uncommitted changes"
		}
		fmt.Fprintln(env.Stdout, line)
	}
	fmt.Fprintf(env.Stdout, "built with %s for %s\n", b.GoVersion, b.Platform)
	return nil
}
