package nodetimer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// IPVS generic netlink (include/uapi/linux/ip_vs.h).
const (
	ipvsFamily         = "IPVS"
	ipvsVersion        = 1
	ipvsCmdGetConfig   = 13 // IPVS_CMD_GET_CONFIG
	ipvsAttrTimeoutTCP = 4  // IPVS_CMD_ATTR_TIMEOUT_TCP, u32 seconds
	ipvsAttrTCPFin     = 5  // IPVS_CMD_ATTR_TIMEOUT_TCP_FIN
	ipvsAttrUDP        = 6  // IPVS_CMD_ATTR_TIMEOUT_UDP
)

// IPVSTimeouts is IPVS's connection-table timeouts, in seconds, as
// ipvsadm -L --timeout prints them.
type IPVSTimeouts struct {
	TCP, TCPFin, UDP int
}

// ipvsSource names the query in Timer.Source.
const ipvsSource = "IPVS_CMD_GET_CONFIG (ipvsadm -L --timeout)"

// ipvs reads IPVS's TCP timeout when ip_vs is loaded in this namespace.
func (s Sources) ipvs() ([]Timer, *Unread) {
	// thread-self: /proc/net follows the thread group leader, and the
	// caller runs on a thread moved into the namespace it asks about.
	file := filepath.Join(s.ProcRoot, "thread-self", "net", "ip_vs")
	f, err := os.Open(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &Unread{Kind: IPVS, Why: "not loaded (no /proc/net/ip_vs here; tcpka does not load ip_vs)"}
	case err != nil:
		err = fmt.Errorf("%w: %w", ErrUnreadable, err)
		return nil, &Unread{Kind: IPVS, Why: err.Error(), Err: err}
	}
	services, serr := countServices(f)
	f.Close()
	cfg, err := s.IPVSConfig()
	if err != nil {
		return nil, unreadErr(IPVS, "IPVS timeouts", err)
	}
	t := Timer{Kind: IPVS, Name: "tcp", IdleTimeoutS: cfg.TCP, Source: ipvsSource}
	switch {
	case serr != nil:
		t.Note = "virtual services: unknown"
	case services == 0:
		t.Note = "no TCP virtual service: no flow goes through IPVS here"
	default:
		t.Note = "for flows through " + strconv.Itoa(services) + " TCP virtual services"
	}
	return []Timer{t}, nil
}

// countServices counts the virtual services in /proc/net/ip_vs that can
// carry TCP: "TCP" lines and firewall-mark ("FWM") services.
func countServices(r io.Reader) (int, error) {
	n := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 && (f[0] == "TCP" || f[0] == "FWM") {
			n++
		}
	}
	return n, sc.Err()
}

// ReadIPVSConfig asks the kernel for IPVS's timeouts over generic netlink
// in the calling thread's network namespace: the IPVS family's id from
// the controller, then IPVS_CMD_GET_CONFIG. Needs CAP_NET_ADMIN (EPERM
// otherwise). Call it only when ip_vs is loaded: a lookup of a family that
// is not registered may make the kernel load its module.
func ReadIPVSConfig() (IPVSTimeouts, error) {
	id, err := genlFamily(ipvsFamily)
	if err != nil {
		return IPVSTimeouts{}, err
	}
	req := nl.NewNetlinkRequest(int(id), 0)
	req.AddData(&nl.Genlmsg{Command: ipvsCmdGetConfig, Version: ipvsVersion})
	msgs, err := req.Execute(unix.NETLINK_GENERIC, 0)
	if err != nil {
		return IPVSTimeouts{}, err
	}
	if len(msgs) != 1 {
		return IPVSTimeouts{}, fmt.Errorf("IPVS_CMD_GET_CONFIG: %d answers, want 1", len(msgs))
	}
	return parseIPVSConfig(msgs[0])
}

// parseIPVSConfig decodes the answer: a genlmsghdr, then u32 attributes.
func parseIPVSConfig(m []byte) (IPVSTimeouts, error) {
	var t IPVSTimeouts
	if len(m) < nl.SizeofGenlmsg {
		return t, errors.New("IPVS_CMD_GET_CONFIG: short answer")
	}
	attrs, err := nl.ParseRouteAttr(m[nl.SizeofGenlmsg:])
	if err != nil {
		return t, fmt.Errorf("IPVS_CMD_GET_CONFIG: %w", err)
	}
	found := false
	for _, a := range attrs {
		if len(a.Value) < 4 {
			continue
		}
		v := int(nl.NativeEndian().Uint32(a.Value))
		switch a.Attr.Type & nlaTypeMask {
		case ipvsAttrTimeoutTCP:
			t.TCP, found = v, true
		case ipvsAttrTCPFin:
			t.TCPFin = v
		case ipvsAttrUDP:
			t.UDP = v
		}
	}
	if !found {
		return t, errors.New("IPVS_CMD_GET_CONFIG: no TCP timeout in the answer")
	}
	return t, nil
}

// genlFamily resolves a generic netlink family's id with the controller.
func genlFamily(name string) (uint16, error) {
	req := nl.NewNetlinkRequest(nl.GENL_ID_CTRL, 0)
	req.AddData(&nl.Genlmsg{Command: nl.GENL_CTRL_CMD_GETFAMILY, Version: nl.GENL_CTRL_VERSION})
	req.AddData(nl.NewRtAttr(nl.GENL_CTRL_ATTR_FAMILY_NAME, nl.ZeroTerminated(name)))
	msgs, err := req.Execute(unix.NETLINK_GENERIC, 0)
	if err != nil {
		return 0, fmt.Errorf("generic netlink family %s: %w", name, err)
	}
	for _, m := range msgs {
		if len(m) < nl.SizeofGenlmsg {
			continue
		}
		attrs, err := nl.ParseRouteAttr(m[nl.SizeofGenlmsg:])
		if err != nil {
			return 0, fmt.Errorf("generic netlink family %s: %w", name, err)
		}
		for _, a := range attrs {
			if a.Attr.Type == nl.GENL_CTRL_ATTR_FAMILY_ID && len(a.Value) >= 2 {
				return nl.NativeEndian().Uint16(a.Value), nil
			}
		}
	}
	return 0, fmt.Errorf("generic netlink family %s: no id in the answer", name)
}
