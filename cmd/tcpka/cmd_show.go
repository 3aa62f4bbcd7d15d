package main

import (
	"fmt"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/sysctl"
)

var showJSON, showAllNetnsFlag bool

var cmdShow = &Command{
	Name:      "show",
	Netns:     true,
	UsageLine: "show [--json] [--all-netns | --netns TARGET]",
	Short:     "print the keepalive sysctls and the dead-peer detection time",
	Long: `Prints net.ipv4.tcp_keepalive_time, _intvl and _probes of the current network
namespace and the time an idle connection takes to notice a silently dead
peer: time + intvl * probes. Reading needs no privileges.

The values belong to one network namespace: containers and other namespaces
start at the kernel defaults 7200/75/9 whatever the host is set to.
--netns shows another namespace; --all-netns shows every namespace found
under /run/netns and in /proc/*/ns/net, once each, with its name, a few of
its processes, and a note where it has the kernel defaults or differs from
the host (pid 1's namespace).`,
	Examples: "tcpka show\ntcpka show --json\nsudo tcpka show --netns blue\nsudo tcpka show --all-netns",
	Flags: func(fs *pflag.FlagSet) {
		fs.BoolVar(&showJSON, "json", false, "print one JSON object")
		addShowBootFlags(fs)
		fs.BoolVar(&showAllNetnsFlag, "all-netns", false, "one row per network namespace on the machine (named and of every process)")
	},
	Run: runShow,
}

// showJSONOut is show's --json shape; field names are stable.
type showJSONOut struct {
	Netns string `json:"netns,omitempty"`
	valuesJSON
	KernelDefaults bool `json:"kernel_defaults"`
	// DataInFlightS: detection with unacknowledged data (retransmission).
	DataInFlightS *int      `json:"data_in_flight_s,omitempty"`
	Retries2      *int      `json:"retries2,omitempty"`
	Boot          *bootJSON `json:"boot"`
}

func runShow(env *Env, args []string) error {
	if len(args) > 0 {
		return usagef("takes no arguments, got %q", args[0])
	}
	if showAllNetnsFlag {
		return showAllNetns(env)
	}
	v, err := env.readValues()
	if err != nil {
		return fmt.Errorf("show: %w", err)
	}
	boot, err := resolveBoot(v)
	if err != nil {
		return err
	}
	cases, dataS, retries2 := env.detectionCases(keepalive(v))
	if showJSON {
		out := showJSONOut{Netns: env.netnsID(), valuesJSON: newValuesJSON(v), KernelDefaults: v == sysctl.KernelDefaults, Boot: boot.JSON()}
		if dataS >= 0 {
			out.DataInFlightS, out.Retries2 = &dataS, &retries2
		}
		return writeJSON(env.Stdout, out)
	}
	w := env.Stdout
	for _, k := range sysctl.Keys {
		fmt.Fprintf(w, "%s  %s\n", keyColumn(k, v.Get(k)), k.Meaning())
	}
	fmt.Fprintf(w, "dead peer detected after %s of silence on an idle connection\n", detect.Seconds(keepalive(v).IdleSeconds()))
	fmt.Fprintln(w, cases)
	if id := env.netnsID(); id != "" {
		note := "other namespaces and containers have their own values"
		if v == sysctl.KernelDefaults {
			note = "still the kernel defaults"
		}
		fmt.Fprintf(w, "network namespace %s: %s\n", id, note)
	}
	if n := enforceNote(env); n != "" {
		fmt.Fprintln(w, n)
	}
	printBoot(w, boot)
	return nil
}
