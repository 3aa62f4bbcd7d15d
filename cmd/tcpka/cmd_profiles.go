package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
)

var profilesJSON bool

var cmdProfiles = &Command{
	Name:      "profiles",
	UsageLine: "profiles [--json]",
	Short:     "list the shipped profiles with their detection times",
	Long: `Lists the profiles built into tcpka: the three values, the dead-peer detection
time, the path idle timeout each is built for, and where its numbers come from
(--json has the sources).`,
	Examples: "tcpka profiles\ntcpka profiles --json",
	Flags: func(fs *pflag.FlagSet) {
		fs.BoolVar(&profilesJSON, "json", false, "print one JSON object")
	},
	Run: runProfiles,
}

type profileJSON struct {
	Name          string   `json:"name"`
	Description   string   `json:"description"`
	TimeS         *int     `json:"time_s"`
	IntvlS        *int     `json:"intvl_s"`
	Probes        *int     `json:"probes"`
	DetectionS    *int     `json:"detection_s"`
	IdleTimeoutS  int      `json:"idle_timeout_s,omitempty"`
	DetectWithinS int      `json:"detect_within_s,omitempty"`
	Sources       []string `json:"sources"`
}

func lookupPtr(s sysctl.Settings, k sysctl.Key) *int {
	if n, ok := s.Lookup(k); ok {
		return &n
	}
	return nil
}

func runProfiles(env *Env, args []string) error {
	if len(args) > 0 {
		return usagef("takes no arguments, got %q", args[0])
	}
	all, err := profile.All()
	if err != nil {
		return err
	}
	if profilesJSON {
		out := struct {
			Profiles []profileJSON `json:"profiles"`
		}{}
		for _, p := range all {
			j := profileJSON{
				Name: p.Name, Description: p.Description, Sources: p.Sources,
				TimeS: lookupPtr(p.Settings, sysctl.Time), IntvlS: lookupPtr(p.Settings, sysctl.Intvl), Probes: lookupPtr(p.Settings, sysctl.Probes),
				IdleTimeoutS: p.IdleTimeout, DetectWithinS: p.DetectWithin,
			}
			if p.Settings.Len() == len(sysctl.Keys) {
				d := p.Keepalive(sysctl.Values{}).IdleSeconds()
				j.DetectionS = &d
			}
			out.Profiles = append(out.Profiles, j)
		}
		return writeJSON(env.Stdout, out)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTIME\tINTVL\tPROBES\tDETECTION\tPATH IDLE\tDESCRIPTION")
	for _, p := range all {
		cell := func(k sysctl.Key) string {
			if n, ok := p.Settings.Lookup(k); ok {
				return sysctl.FormatValue(k, n)
			}
			return "-"
		}
		det := "-"
		if p.Settings.Len() == len(sysctl.Keys) {
			det = detect.Words(p.Keepalive(sysctl.Values{}).IdleSeconds())
		}
		idle := "-"
		if p.IdleTimeout > 0 {
			idle = detect.Words(p.IdleTimeout)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, cell(sysctl.Time), cell(sysctl.Intvl), cell(sysctl.Probes), det, idle, p.Description)
	}
	return tw.Flush()
}
