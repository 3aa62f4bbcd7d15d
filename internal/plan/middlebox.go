package plan

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tcpka/tcpka/internal/human"
)

// Middlebox is a path element that forgets idle TCP flows.
type Middlebox struct {
	Name  string // the --path name, e.g. "aws-nlb"
	Title string // what it is, e.g. "AWS Network Load Balancer (TCP)"
	// IdleTimeout is the published default, in seconds.
	IdleTimeout int
	// Configurable says the operator may change the timeout; Min and Max
	// bound it where the vendor publishes a range (0: no bound stated).
	Configurable bool
	Min, Max     int
	Source       string // the page that states the figure
}

// Middleboxes lists the known path elements (figures from the vendors'
// pages; each entry names its source), sorted by name.
var Middleboxes = []Middlebox{
	{Name: "aws-nat", Title: "AWS NAT Gateway", IdleTimeout: 350,
		Source: "https://docs.aws.amazon.com/vpc/latest/userguide/nat-gateway-troubleshooting.html (NAT Gateway: 350 s idle timeout, fixed)"},
	{Name: "aws-nlb", Title: "AWS Network Load Balancer (TCP listener)", IdleTimeout: 350, Configurable: true, Min: 60, Max: 6000,
		Source: "https://docs.aws.amazon.com/elasticloadbalancing/latest/network/update-idle-timeout.html (TCP idle timeout: 350 s default, 60-6000 s)"},
	{Name: "azure-lb", Title: "Azure Load Balancer", IdleTimeout: 240, Configurable: true, Min: 240, Max: 6000,
		Source: "https://learn.microsoft.com/en-us/azure/load-balancer/load-balancer-tcp-idle-timeout (4 min default, 4-100 min)"},
	{Name: "azure-nat", Title: "Azure NAT Gateway", IdleTimeout: 240, Configurable: true, Min: 240, Max: 7200,
		Source: "https://learn.microsoft.com/en-us/azure/nat-gateway/nat-gateway-resource (TCP idle timeout: 4 min default, 4-120 min)"},
	{Name: "conntrack", Title: "Linux conntrack (nf_conntrack_tcp_timeout_established)", IdleTimeout: 432000, Configurable: true,
		Source: "https://www.kernel.org/doc/html/latest/networking/nf_conntrack-sysctl.html (nf_conntrack_tcp_timeout_established: 432000 s default)"},
	{Name: "gcp-nat", Title: "Google Cloud NAT (TCP established)", IdleTimeout: 1200, Configurable: true,
		Source: "https://cloud.google.com/nat/docs/tune-nat-configuration (TCP established connection idle timeout: 1200 s default)"},
	{Name: "gcp-vpc", Title: "Google Cloud VPC firewall connection tracking", IdleTimeout: 600,
		Source: "https://cloud.google.com/firewall/docs/firewalls#specifications (connection tracking: 10 min idle timeout for established TCP)"},
}

// ErrUnknownPath is wrapped when a --path name is not in Middleboxes.
var ErrUnknownPath = errors.New("unknown path")

// ErrTimeoutRange is wrapped when a stated idle timeout is outside what the
// middlebox allows.
var ErrTimeoutRange = errors.New("idle timeout not possible on this path")

// Names lists the known middlebox names, sorted.
func Names() []string {
	var out []string
	for _, m := range Middleboxes {
		out = append(out, m.Name)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the middlebox called name.
func Lookup(name string) (Middlebox, error) {
	for _, m := range Middleboxes {
		if m.Name == name {
			return m, nil
		}
	}
	return Middlebox{}, fmt.Errorf("%q: %w: known paths are %s", name, ErrUnknownPath, strings.Join(Names(), ", "))
}

// Smallest is the middlebox with the shortest default idle timeout: what a
// path through an unknown cloud must survive.
func Smallest() Middlebox {
	best := Middleboxes[0]
	for _, m := range Middleboxes[1:] {
		if m.IdleTimeout < best.IdleTimeout {
			best = m
		}
	}
	return best
}

// Range says in words which idle timeouts the middlebox allows.
func (m Middlebox) Range() string {
	switch {
	case !m.Configurable:
		return "fixed"
	case m.Min > 0 && m.Max > 0:
		return fmt.Sprintf("default; configurable %s-%s", human.Duration(m.Min), human.Duration(m.Max))
	}
	return "default; configurable"
}

// Timeout checks an operator-stated idle timeout against the middlebox:
// a fixed timeout must be the published one, a configurable one must lie in
// the published range.
func (m Middlebox) Timeout(seconds int) error {
	switch {
	case seconds == m.IdleTimeout:
		return nil
	case !m.Configurable:
		return fmt.Errorf("%w: the %s's idle timeout is fixed at %s, not %s",
			ErrTimeoutRange, m.Title, human.Seconds(m.IdleTimeout), human.Seconds(seconds))
	case m.Min > 0 && seconds < m.Min, m.Max > 0 && seconds > m.Max:
		return fmt.Errorf("%w: the %s's idle timeout can be set to %s-%s, not %s",
			ErrTimeoutRange, m.Title, human.Duration(m.Min), human.Duration(m.Max), human.Seconds(seconds))
	}
	return nil
}

// ForPath resolves a path name with the idle timeout the operator stated
// for it (0: none): the middlebox's published timeout, or the stated one
// when it lies in the range the vendor allows.
func ForPath(name string, idle int) (Middlebox, int, error) {
	m, err := Lookup(name)
	if err != nil {
		return m, 0, err
	}
	if idle == 0 {
		return m, m.IdleTimeout, nil
	}
	if err := m.Timeout(idle); err != nil {
		return m, 0, err
	}
	return m, idle, nil
}
