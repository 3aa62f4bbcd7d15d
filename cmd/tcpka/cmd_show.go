package main

import (
	"fmt"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/sysctl"
)

var showJSON bool

var cmdShow = &Command{
	Name:      "show",
	UsageLine: "show [--json]",
	Short:     "print the keepalive sysctls and the dead-peer detection time",
	Long: `Prints net.ipv4.tcp_keepalive_time, _intvl and _probes of the current network
namespace and the time an idle connection takes to notice a silently dead
peer: time + intvl * probes. Reading needs no privileges.

The values belong to one network namespace: containers and other namespaces
start at the kernel defaults 7200/75/9 whatever the host is set to.`,
	Examples: "tcpka show\ntcpka show --json",
	Flags: func(fs *pflag.FlagSet) {
		fs.BoolVar(&showJSON, "json", false, "print one JSON object")
	},
	Run: runShow,
}

// showJSONOut is show's --json shape; field names are stable.
type showJSONOut struct {
	Netns string `json:"netns,omitempty"`
	valuesJSON
	KernelDefaults bool `json:"kernel_defaults"`
}

func runShow(env *Env, args []string) error {
	if len(args) > 0 {
		return usagef("takes no arguments, got %q", args[0])
	}
	v, err := env.sysFS().Read()
	if err != nil {
		return fmt.Errorf("show: %w", err)
	}
	if showJSON {
		return writeJSON(env.Stdout, showJSONOut{Netns: env.netnsID(), valuesJSON: newValuesJSON(v), KernelDefaults: v == sysctl.KernelDefaults})
	}
	w := env.Stdout
	for _, k := range sysctl.Keys {
		fmt.Fprintf(w, "%s  %s\n", keyColumn(k, v.Get(k)), k.Meaning())
	}
	fmt.Fprintf(w, "dead peer detected after %s of silence on an idle connection\n", detect.Seconds(keepalive(v).IdleSeconds()))
	fmt.Fprintln(w, "not covered: sockets with their own keepalive options or TCP_USER_TIMEOUT, and connections with unacknowledged data (retransmission governs)")
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
	return nil
}
