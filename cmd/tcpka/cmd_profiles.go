package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/jsonout"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/nsreport"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
)

var cmdProfiles = &Command{
	Name:      "profiles",
	UsageLine: "profiles [--json]",
	Short:     "list the shipped profiles with their detection times",
	Long: `Lists the profiles built into tcpka: the keepalive values, the dead-peer
detection time of an idle connection, tcp_retries2 and the time a connection
with data in flight takes (DATA, the kernel's 15 where a profile leaves it),
the TCP_USER_TIMEOUT tcpka enforce sets, the path idle timeout each is built
for, and where its numbers come from (--json has the sources).`,
	Examples: "tcpka profiles\ntcpka profiles --json",
	Bind: func(fs *pflag.FlagSet) Runner {
		asJSON := fs.Bool("json", false, "print one JSON object")
		return func(env *Env, args []string) error { return runProfiles(env, *asJSON, args) }
	},
}

// profileJSON is one profile: its keys in the one settings shape (null
// where it leaves a keepalive key unset), with the times the sysctls give
// once it is applied to a namespace at the kernel defaults.
type profileJSON struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	jsonout.Settings
	IdleTimeoutS  int      `json:"idle_timeout_s,omitempty"`
	DetectWithinS int      `json:"detect_within_s,omitempty"`
	Sources       []string `json:"sources"`
}

func runProfiles(env *Env, asJSON bool, args []string) error {
	if len(args) > 0 {
		return usagef("takes no arguments, got %q", args[0])
	}
	all, err := profile.All()
	if err != nil {
		return err
	}
	if asJSON {
		out := struct {
			Profiles []profileJSON `json:"profiles"`
		}{}
		for _, p := range all {
			out.Profiles = append(out.Profiles, profileJSON{
				Name: p.Name, Description: p.Description, Sources: nsreport.NonNil(p.Sources),
				Settings: jsonout.Profile(p.Settings), IdleTimeoutS: p.IdleTimeout, DetectWithinS: p.DetectWithin,
			})
		}
		return jsonout.Write(env.Stdout, out)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTIME\tINTVL\tPROBES\tDETECTION\tRETRIES2\tDATA\tUSER-TIMEOUT\tPATH-IDLE")
	for _, p := range all {
		cell := func(k sysctl.Key) string {
			if n := k.Get(p.Settings); n != 0 {
				return k.Format(n)
			}
			return "-"
		}
		b := jsonout.Profile(p.Settings).Bounds() // the figures --json gives
		det := human.Duration(b.Idle)
		idle := "-"
		if p.IdleTimeout > 0 {
			idle = human.Duration(p.IdleTimeout)
		}
		ut := "-"
		if u := p.Settings.UserTimeout; u > 0 {
			ut = human.Duration(int(u / time.Second))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, cell(keepalive.Time), cell(keepalive.Intvl), cell(keepalive.Probes), det,
			cell(keepalive.Retries2), human.Duration(b.Data), ut, idle)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// What each is for, below the table so the table fits a terminal.
	width := 0
	for _, p := range all {
		width = max(width, len(p.Name))
	}
	fmt.Fprintln(env.Stdout)
	for _, p := range all {
		for i, l := range wrapWords(p.Description, 100-width-2) {
			name := p.Name
			if i > 0 {
				name = ""
			}
			fmt.Fprintf(env.Stdout, "%-*s  %s\n", width, name, l)
		}
	}
	return nil
}
