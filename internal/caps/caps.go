package caps

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Cap is a capability number from linux/capability.h.
type Cap int

// The capabilities tcpka's commands need.
const (
	NetAdmin  Cap = 12 // write /proc/sys/net, sock_diag of all sockets, bpf links on cgroups
	SysPtrace Cap = 19 // pidfd_getfd on another user's process
	SysAdmin  Cap = 21 // create and enter namespaces, mount bpffs
	BPF       Cap = 39 // load BPF programs (Linux 5.8+; SysAdmin before)
)

func (c Cap) String() string {
	switch c {
	case NetAdmin:
		return "CAP_NET_ADMIN"
	case SysPtrace:
		return "CAP_SYS_PTRACE"
	case SysAdmin:
		return "CAP_SYS_ADMIN"
	case BPF:
		return "CAP_BPF"
	}
	return "capability " + strconv.Itoa(int(c))
}

// effective is the process's effective capability set; a variable so tests
// can pretend to lack one.
var effective = readEffective

// readEffective asks the kernel with capget(2): the CapEff of
// /proc/self/status without reading and parsing that file (show, as root,
// checks a capability at every run).
func readEffective() uint64 {
	var d [2]unix.CapUserData
	if err := unix.Capget(&unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}, &d[0]); err != nil {
		return 0
	}
	return uint64(d[1].Effective)<<32 | uint64(d[0].Effective)
}

// Has says whether every capability is in the effective set.
func Has(cs ...Cap) bool {
	eff := effective()
	for _, c := range cs {
		if eff&(1<<uint(c)) == 0 {
			return false
		}
	}
	return true
}

// ErrPrivilege is wrapped by Require's and Need's refusals.
var ErrPrivilege = errors.New("needs root")

// refusal is the one line of a missing capability, wrapping ErrPrivilege.
type refusal struct{ msg string }

func (r refusal) Error() string { return r.msg }
func (r refusal) Unwrap() error { return ErrPrivilege }

// Require returns nil when the process has every capability, and
// otherwise the one line that says what needs them and what to do:
// "apply needs root (CAP_NET_ADMIN): run it with sudo".
func Require(what string, cs ...Cap) error { return Need(what, "", cs...) }

// Need is Require with the reason the capabilities are needed: "measure
// needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN, to create scratch network
// namespaces): run it with sudo". Every command checks its privileges
// through it, so the refusals read alike.
func Need(what, why string, cs ...Cap) error {
	if Has(cs...) {
		return nil
	}
	var ns []string
	for _, c := range cs {
		ns = append(ns, c.String())
	}
	names := strings.Join(ns, ", ")
	if n := len(ns); n > 1 {
		names = strings.Join(ns[:n-1], ", ") + " and " + ns[n-1]
	}
	if why != "" {
		names += ", " + why
	}
	return refusal{fmt.Sprintf("%s needs root (%s): run it with sudo", what, names)}
}

// Pretend makes Has see exactly cs for the rest of a test; the returned
// func restores the real set.
func Pretend(cs ...Cap) (restore func()) {
	var v uint64
	for _, c := range cs {
		v |= 1 << uint(c)
	}
	saved := effective
	effective = func() uint64 { return v }
	return func() { effective = saved }
}
