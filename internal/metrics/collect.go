package metrics

import (
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/netscope"
	"github.com/tcpka/tcpka/internal/nodetimer"
	"github.com/tcpka/tcpka/internal/sockdiag"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// Collect reads the samples of every namespace of the scope, one visit
// each on a locked thread inside it: the sysctls, the retransmission
// parameters and, with sockets (root on the real /proc), the live socket
// counts from the scan tcpka sockets --summary --processes makes. The
// samples of a scope of every namespace carry the namespace's ID and, for
// a Kubernetes pod's, the pod; a namespace that could not be read is left
// out and counted in the visits.
func Collect(sc *netscope.Scope, sockets bool) ([]Sample, netscope.Visits, error) {
	hz, _ := detect.ReadHZ(sc.ProcRoot())
	var owners *sockdiag.Owners
	var opts *sockdiag.OptionReader
	if sockets {
		o, err := sockdiag.ReadOwners(sc.ProcRoot())
		if err != nil {
			return nil, netscope.Visits{}, err
		}
		owners, opts = o, sockdiag.NewOptionReader()
		defer opts.Close()
	}
	got := map[*netscope.Member]Sample{}
	v, err := sc.Visit(func(m *netscope.Member, fs sysctl.FS) error {
		vals, err := fs.Read()
		if err != nil {
			return err
		}
		smp := Sample{Values: vals, Net: detect.Net{Retrans: detect.ReadRetrans(sc.ProcRoot()), HZ: hz}}
		for _, t := range nodetimer.Read(sc.ProcRoot()).Timers {
			smp.NodeTimers = append(smp.NodeTimers, NodeTimer{Kind: string(t.Kind), Name: t.Name, Seconds: t.IdleTimeoutS})
		}
		if sc.All() {
			smp.Netns = m.ID
			if m.Pod != nil {
				smp.PodNamespace, smp.Pod = m.Pod.Namespace, m.Pod.Name
			}
		}
		if sockets {
			c, err := sockdiag.Count(sockdiag.Netlink{}, owners, opts, vals, smp.Net)
			if err != nil {
				return err
			}
			smp.Sockets = &c
		}
		got[m] = smp
		return nil
	})
	if err != nil {
		return nil, v, err
	}
	var out []Sample
	for i := range v.Members {
		if smp, ok := got[&v.Members[i]]; ok {
			out = append(out, smp)
		}
	}
	return out, v, nil
}
