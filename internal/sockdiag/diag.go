package sockdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// ErrUnavailable: the kernel does not answer inet_diag requests for TCP
// (no NETLINK_SOCK_DIAG, or the tcp_diag / inet_diag modules are missing).
var ErrUnavailable = errors.New("sock_diag unavailable")

// State is a TCP state as the kernel numbers it (include/net/tcp_states.h).
type State uint8

// TCP states.
const (
	Established State = 1 + iota
	SynSent
	SynRecv
	FinWait1
	FinWait2
	TimeWait
	Close
	CloseWait
	LastAck
	Listen
	Closing
	NewSynRecv
)

var stateNames = [...]string{
	Established: "ESTAB", SynSent: "SYN-SENT", SynRecv: "SYN-RECV",
	FinWait1: "FIN-WAIT-1", FinWait2: "FIN-WAIT-2", TimeWait: "TIME-WAIT",
	Close: "UNCONN", CloseWait: "CLOSE-WAIT", LastAck: "LAST-ACK",
	Listen: "LISTEN", Closing: "CLOSING", NewSynRecv: "SYN-RECV",
}

// String is the state's name as ss prints it ("ESTAB", "TIME-WAIT").
func (s State) String() string {
	if int(s) < len(stateNames) && stateNames[s] != "" {
		return stateNames[s]
	}
	return fmt.Sprintf("state-%d", uint8(s))
}

// States is a set of states, one bit per State, as inet_diag takes it.
type States uint32

// Has reports whether s is in the set.
func (ss States) Has(s State) bool { return ss&(1<<s) != 0 }

// Named state sets for --state.
const (
	StatesAll States = 1<<(NewSynRecv+1) - 2 // every state from Established to NewSynRecv
	// StatesConnected is ss's default: all but LISTEN, CLOSE, TIME-WAIT and
	// SYN-RECV.
	StatesConnected States = StatesAll &^ (1<<Listen | 1<<Close | 1<<TimeWait | 1<<SynRecv | 1<<NewSynRecv)
)

// stateFilters are the --state values, as ss spells them, in the order
// help and completion offer them; ParseStates also takes ss's short
// forms in stateAliases.
var stateFilters = []struct {
	name   string
	states States
}{
	{"established", 1 << Established},
	{"syn-sent", 1 << SynSent},
	{"syn-recv", 1<<SynRecv | 1<<NewSynRecv},
	{"fin-wait-1", 1 << FinWait1},
	{"fin-wait-2", 1 << FinWait2},
	{"time-wait", 1 << TimeWait},
	{"close-wait", 1 << CloseWait},
	{"last-ack", 1 << LastAck},
	{"listening", 1 << Listen},
	{"closing", 1 << Closing},
	{"closed", 1 << Close},
	{"connected", StatesConnected},
	{"all", StatesAll},
}

// stateAliases are ss's short forms: a list, not a map, so that no init
// code builds it at every start.
var stateAliases = [...]struct{ short, full string }{{"estab", "established"}, {"listen", "listening"}}

// StateNames lists the values ParseStates takes (short forms aside).
func StateNames() []string {
	out := make([]string, len(stateFilters))
	for i, f := range stateFilters {
		out[i] = f.name
	}
	return out
}

// ParseStates turns a --state value into a set: a state name as ss spells
// it (established, syn-sent, syn-recv, fin-wait-1, fin-wait-2, time-wait,
// close-wait, last-ack, listening, closing, closed) or all, connected.
func ParseStates(name string) (States, error) {
	for _, a := range stateAliases {
		if a.short == name {
			name = a.full
		}
	}
	for _, f := range stateFilters {
		if f.name == name {
			return f.states, nil
		}
	}
	names := StateNames()
	return 0, fmt.Errorf("unknown state %q: want %s or %s", name, strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
}

// Timer is the socket timer that is armed (idiag_timer).
type Timer uint8

// Timers.
const (
	TimerNone       Timer = 0
	TimerRetransmit Timer = 1
	TimerKeepalive  Timer = 2
	TimerTimeWait   Timer = 3
	TimerProbe0     Timer = 4
)

// String names the timer as ss -o does.
func (t Timer) String() string {
	switch t {
	case TimerNone:
		return "off"
	case TimerRetransmit:
		return "on"
	case TimerKeepalive:
		return "keepalive"
	case TimerTimeWait:
		return "timewait"
	case TimerProbe0:
		return "persist"
	}
	return fmt.Sprintf("timer-%d", uint8(t))
}

// Socket is one TCP socket from the dump. Each reuses one Socket for every
// callback: copy what you keep.
type Socket struct {
	Family  uint8 // unix.AF_INET or unix.AF_INET6
	State   State
	Local   netip.AddrPort
	Peer    netip.AddrPort
	Timer   Timer
	Retrans uint8  // keepalive or zero-window timer: probes out; retransmit timer: retransmissions
	Expires uint32 // ms until the timer fires
	RecvQ   uint32
	SendQ   uint32
	UID     uint32
	Inode   uint32
	// HasInfo: the dump carried the socket's tcp_info (INET_DIAG_INFO;
	// not for TIME-WAIT and SYN-RECV minisockets, nor when not asked).
	HasInfo bool
	Info    TCPInfo
}

// TCPInfo is the part of struct tcp_info the model of time reads. Fields
// a kernel's shorter struct lacks are zero.
type TCPInfo struct {
	State       State
	Retransmits uint8 // icsk_retransmits: RTO expiries since data was last acknowledged
	Probes      uint8 // icsk_probes_out: keepalive or zero-window probes unanswered
	Backoff     uint8 // icsk_backoff
	// RTO is the retransmission timeout now (icsk_rto, doubled by each
	// RTO retransmission); RTT the smoothed round trip.
	RTO, RTT time.Duration
	// LastDataSent, LastDataRecv, LastAckRecv: how long ago the socket
	// last sent data, received data, and received an acknowledgement.
	LastDataSent, LastDataRecv, LastAckRecv time.Duration
	Unacked                                 uint32 // segments sent and not acknowledged
	TotalRetrans                            uint32 // segments retransmitted over the connection's life
	SndWnd                                  uint32 // the peer's receive window (Linux 5.4+): 0 is a zero window
	// TotalRTO, TotalRTORecoveries and TotalRTOTime (Linux 6.7+): RTO
	// expiries, RTO recoveries (the current one included) and the time
	// spent in them (the current one included).
	TotalRTO, TotalRTORecoveries uint16
	TotalRTOTime                 time.Duration
}

// Offsets in struct tcp_info (include/uapi/linux/tcp.h).
const (
	tiRTO          = 8
	tiUnacked      = 24
	tiLastDataSent = 44
	tiLastDataRecv = 52
	tiLastAckRecv  = 56
	tiRTT          = 68
	tiTotalRetrans = 100
	tiSndWnd       = 228
	tiTotalRTO     = 240
	tiTotalRTOTime = 244
	sizeofTCPInfo  = 248
)

// parseInfo decodes the fields of struct tcp_info that b holds: all of
// them from a struct as long as Linux 6.7's, the ones it reaches from an
// older kernel's shorter one.
func parseInfo(b []byte, ti *TCPInfo) {
	if len(b) < sizeofTCPInfo {
		var full [sizeofTCPInfo]byte
		copy(full[:], b)
		parseInfo(full[:], ti)
		return
	}
	ne := nl.NativeEndian()
	b = b[:sizeofTCPInfo]
	ti.State, ti.Retransmits, ti.Probes, ti.Backoff = State(b[0]), b[2], b[3], b[4]
	ti.RTO = time.Duration(ne.Uint32(b[tiRTO:])) * time.Microsecond
	ti.RTT = time.Duration(ne.Uint32(b[tiRTT:])) * time.Microsecond
	ti.LastDataSent = time.Duration(ne.Uint32(b[tiLastDataSent:])) * time.Millisecond
	ti.LastDataRecv = time.Duration(ne.Uint32(b[tiLastDataRecv:])) * time.Millisecond
	ti.LastAckRecv = time.Duration(ne.Uint32(b[tiLastAckRecv:])) * time.Millisecond
	ti.Unacked = ne.Uint32(b[tiUnacked:])
	ti.TotalRetrans = ne.Uint32(b[tiTotalRetrans:])
	ti.SndWnd = ne.Uint32(b[tiSndWnd:])
	ti.TotalRTO = ne.Uint16(b[tiTotalRTO:])
	ti.TotalRTORecoveries = ne.Uint16(b[tiTotalRTO+2:])
	ti.TotalRTOTime = time.Duration(ne.Uint32(b[tiTotalRTOTime:])) * time.Millisecond
}

// Keepalive tells from the timer whether SO_KEEPALIVE is on: known is
// false where another timer hides it (retransmission, zero-window probe)
// or the state has no keepalive timer.
func (s *Socket) Keepalive() (on, known bool) {
	switch s.Timer {
	case TimerKeepalive:
		return true, true
	case TimerNone:
		switch s.State {
		case Established, CloseWait, FinWait1, Closing, LastAck, SynSent:
			return false, true
		}
	}
	return false, false
}

// Lister streams sockets; Netlink is the real one, tests use fakes.
type Lister interface {
	// Each calls fn for every TCP socket in one of states, IPv4 then IPv6,
	// stopping at fn's first error, which it returns.
	Each(states States, fn func(*Socket) error) error
}

// Netlink lists, over NETLINK_SOCK_DIAG, the sockets of the calling
// thread's network namespace, each with its tcp_info unless NoInfo.
type Netlink struct {
	// NoInfo leaves tcp_info out of the dump (a smaller dump, for
	// callers that only need the header).
	NoInfo bool
}

// inetDiagReq is struct inet_diag_req_v2 with an all-zero sockid.
type inetDiagReq struct {
	family uint8
	states States
	ext    uint8 // idiag_ext: the extensions asked for
}

// INET_DIAG_INFO is the attribute carrying struct tcp_info; idiag_ext
// asks for extension n with bit 1<<(n-1).
const (
	inetDiagInfo = 2
	extInfo      = 1 << (inetDiagInfo - 1)
)

const sizeofInetDiagReq = 56

func (r *inetDiagReq) Len() int { return sizeofInetDiagReq }

func (r *inetDiagReq) Serialize() []byte {
	b := make([]byte, sizeofInetDiagReq)
	b[0] = r.family // sdiag_family
	b[1] = unix.IPPROTO_TCP
	b[2] = r.ext // idiag_ext
	nl.NativeEndian().PutUint32(b[4:8], uint32(r.states))
	// inet_diag_sockid: ports, addresses, interface and cookie all zero;
	// the cookie must be INET_DIAG_NOCOOKIE only for exact lookups.
	return b
}

const sizeofInetDiagMsg = 72

// Each implements Lister over NETLINK_SOCK_DIAG. The request is built
// with vishvananda/netlink's nl package; the answer is read with blocking
// read(2) into one reused buffer and decoded in place, tcp_info included,
// so a dump of any size costs a few KiB of memory and no allocation per
// socket.
func (n Netlink) Each(states States, fn func(*Socket) error) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return diagError(unix.AF_INET, err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sock_diag: bind: %w", err)
	}
	buf := make([]byte, 64<<10) // the kernel fills at most ~32 KiB per dump message batch
	var s Socket
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		req := nl.NewNetlinkRequest(nl.SOCK_DIAG_BY_FAMILY, unix.NLM_F_DUMP)
		r := &inetDiagReq{family: family, states: states}
		if !n.NoInfo {
			r.ext = extInfo
		}
		req.AddData(r)
		if err := unix.Sendto(fd, req.Serialize(), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return diagError(family, err)
		}
		if err := receive(fd, req.Seq, buf, &s, fn); err != nil {
			var de dumpError
			if errors.As(err, &de) {
				return diagError(family, de.errno)
			}
			return err
		}
	}
	return nil
}

// dumpError is an NLMSG_ERROR the kernel answered the dump with.
type dumpError struct{ errno unix.Errno }

func (e dumpError) Error() string { return e.errno.Error() }

// receive reads one dump to NLMSG_DONE, calling fn per inet_diag_msg. After
// fn fails it keeps reading to the end so the socket stays usable, then
// returns fn's error. An interrupted dump (NLM_F_DUMP_INTR: the table
// changed meanwhile) is accepted, as ss does: what was sent is accurate.
func receive(fd int, seq uint32, buf []byte, s *Socket, fn func(*Socket) error) error {
	ne := nl.NativeEndian()
	var fnErr error
	for {
		// read(2), not recvfrom(2): the sender is always the kernel, and
		// recvfrom's address would be one allocation per batch.
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("sock_diag: recv: %w", err)
		}
		b := buf[:n]
		for len(b) >= unix.NLMSG_HDRLEN {
			l := int(ne.Uint32(b[0:4]))
			typ := ne.Uint16(b[4:6])
			mseq := ne.Uint32(b[8:12])
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return fmt.Errorf("sock_diag: malformed netlink message (length %d of %d)", l, len(b))
			}
			body := b[unix.NLMSG_HDRLEN:l]
			if al := (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1); al < len(b) {
				b = b[al:]
			} else {
				b = b[len(b):]
			}
			if mseq != seq {
				continue // a stale answer to an earlier request
			}
			switch typ {
			case unix.NLMSG_DONE:
				return fnErr
			case unix.NLMSG_ERROR:
				if len(body) >= 4 {
					if errno := -int32(ne.Uint32(body[0:4])); errno != 0 {
						return dumpError{unix.Errno(errno)}
					}
				}
				return fnErr
			case nl.SOCK_DIAG_BY_FAMILY:
				if fnErr != nil {
					continue
				}
				if err := parse(body, s); err != nil {
					fnErr = err
					continue
				}
				fnErr = fn(s)
			}
		}
	}
}

// diagError explains a failed dump.
func diagError(family uint8, err error) error {
	fam := "IPv4"
	if family == unix.AF_INET6 {
		fam = "IPv6"
	}
	switch {
	case errors.Is(err, unix.EPROTONOSUPPORT), errors.Is(err, unix.EAFNOSUPPORT):
		return fmt.Errorf("%w: no NETLINK_SOCK_DIAG in this kernel (%v)", ErrUnavailable, err)
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("%w: the kernel has no %s TCP diag handler (load tcp_diag and inet_diag: modprobe tcp_diag): %v", ErrUnavailable, fam, err)
	}
	return fmt.Errorf("sock_diag %s TCP dump: %w", fam, err)
}

// parse decodes struct inet_diag_msg into s.
func parse(m []byte, s *Socket) error {
	if len(m) < sizeofInetDiagMsg {
		return fmt.Errorf("sock_diag: short inet_diag_msg (%d bytes)", len(m))
	}
	ne := nl.NativeEndian()
	s.Family = m[0]
	s.State = State(m[1])
	s.Timer = Timer(m[2])
	s.Retrans = m[3]
	sport := binary.BigEndian.Uint16(m[4:6])
	dport := binary.BigEndian.Uint16(m[6:8])
	if s.Family == unix.AF_INET {
		s.Local = netip.AddrPortFrom(netip.AddrFrom4([4]byte(m[8:12])), sport)
		s.Peer = netip.AddrPortFrom(netip.AddrFrom4([4]byte(m[24:28])), dport)
	} else {
		s.Local = netip.AddrPortFrom(netip.AddrFrom16([16]byte(m[8:24])), sport)
		s.Peer = netip.AddrPortFrom(netip.AddrFrom16([16]byte(m[24:40])), dport)
	}
	// m[40:44] interface, m[44:52] cookie
	s.Expires = ne.Uint32(m[52:56])
	s.RecvQ = ne.Uint32(m[56:60])
	s.SendQ = ne.Uint32(m[60:64])
	s.UID = ne.Uint32(m[64:68])
	s.Inode = ne.Uint32(m[68:72])
	// Attributes follow, each a struct rtattr (length, type) and its
	// payload, aligned to 4.
	s.HasInfo, s.Info = false, TCPInfo{}
	for a := m[sizeofInetDiagMsg:]; len(a) >= 4; {
		l := int(ne.Uint16(a[0:2]))
		if l < 4 || l > len(a) {
			break
		}
		if ne.Uint16(a[2:4]) == inetDiagInfo {
			parseInfo(a[4:l], &s.Info)
			s.HasInfo = true
		}
		a = a[min((l+3)&^3, len(a)):]
	}
	return nil
}
