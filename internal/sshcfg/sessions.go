package sshcfg

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/sockdiag"
	"github.com/tcpka/tcpka/internal/sockopt"
)

// LayerUnknown: which layer closes the session cannot be said, because
// the SSH layer's settings could not be read (ConfigNote says why).
const LayerUnknown Layer = "unknown"

// ErrNoSSH is wrapped (with ErrUnreadable: nothing could be determined)
// when no SSH session was found and neither ssh nor sshd is installed.
var ErrNoSSH = errors.New("neither ssh nor sshd is installed here")

// Session is one live SSH connection on this host, seen from the end that
// runs here: sshd's connection (Server) or an ssh client (Client).
type Session struct {
	Side Side
	// PIDs hold the connection's socket, lowest first: for sshd the
	// connection's privileged process and the user's session process.
	PIDs []int
	// Title is the first process's title as ps shows it ("sshd: alice
	// [priv]", "ssh -F cfg host"); it is the process's to set: escape it.
	Title string
	// User: for sshd, the logged-in user (from sshd's title, else from the
	// uid or loginuid of a process holding the socket; "" before
	// authentication); for ssh, the local user running it.
	User string
	// Destination is, for ssh, the host as typed; HostName, Port and
	// RemoteUser are what ssh -G resolves it to.
	Destination, HostName, Port, RemoteUser string
	// Socket is the connection's socket from the sock_diag dump.
	Socket sockdiag.Socket
	// TCP is the socket's TCP keepalive: from its timer, and with root
	// from its options (then Bounds.Idle is the kernel's detection time).
	TCP sockdiag.Verdict
	// SSH is the side's SSH keepalive settings, read with ConfigSource
	// (ssh -G as the user running ssh; sshd -T -C with the connection's
	// user and addresses, as the running sshd's binary and -f). nil when
	// not read: ConfigNote says why.
	SSH                      *Settings
	ConfigSource, ConfigNote string
	// Judgment is the two layers judged for this connection (nil when the
	// SSH settings are unknown): sshcfg.Judge with the socket's own
	// keepalive values.
	Judgment *Judgment
	// EndsBy is the layer that closes the connection first if the peer
	// vanishes now; DetectS when, in seconds (0 never, -1 unknown).
	EndsBy  Layer
	DetectS int
	// IdleS is how long no data went either way, in seconds (tcp_info's
	// last data sent and received); -1 unknown.
	IdleS int
	// Dying is set when the peer has stopped answering: the one model's
	// verdict from the socket's timer and tcp_info (detect.Live.Dying).
	Dying *detect.Dying
}

// Kill closes the session's connection now (sockdiag.DestroySocket, in
// the calling thread's network namespace, which must be the one the scan
// ran in): the process at this end gets ECONNABORTED and exits; the peer,
// if it still listens, gets a RST.
func (s *Session) Kill() error { return sockdiag.DestroySocket(&s.Socket) }

// SessionScan finds the SSH sessions of this host in the calling thread's
// network namespace.
type SessionScan struct {
	ProcRoot string                // "/proc"
	Lister   sockdiag.Lister       // the dump (sockdiag.Netlink)
	Options  sockdiag.OptionSource // socket options from the owner (root); nil: not read
	// Sysctls (tcp_retries2 included) and Net are the namespace's: the
	// values a socket without its own options follows.
	Sysctls keepalive.Settings
	Net     detect.Net
	// SSHBin and SSHDBin are run when a session's own binary cannot be
	// (deleted by an upgrade); "ssh" and "sshd" by default.
	SSHBin, SSHDBin string
	// MayRunSSHD: sshd -T needs root; without it the server side's SSH
	// layer is not read.
	MayRunSSHD bool
	// AsUser: run ssh -G as the user who runs the session (root only).
	AsUser bool

	configs map[string]configResult
	// runConfig runs ssh -G or sshd -T (runAs; tests fake it).
	runConfig func(cred *syscall.Credential, bin string, args ...string) (Config, error)
}

type configResult struct {
	c   Config
	err error
}

// Sessions lists the sessions: sshd's first, then ssh's, each by pid.
// It fails only when the processes or the dump cannot be read, or when
// there is nothing to look at (ErrNoSSH).
func (sc *SessionScan) Sessions() ([]Session, error) {
	if sc.ProcRoot == "" {
		sc.ProcRoot = "/proc"
	}
	if sc.SSHBin == "" {
		sc.SSHBin = "ssh"
	}
	if sc.SSHDBin == "" {
		sc.SSHDBin = "sshd"
	}
	sc.configs = map[string]configResult{}
	if sc.runConfig == nil {
		sc.runConfig = runAs
	}
	procs, err := readProcs(sc.ProcRoot)
	if err != nil {
		return nil, marked{ErrUnreadable, fmt.Errorf("read processes: %w", err)}
	}
	held := map[uint32]bool{}
	for _, p := range procs {
		for ino := range p.sockets {
			held[ino] = true
		}
	}
	tcp := map[uint32]sockdiag.Socket{}
	if len(held) > 0 {
		err = sc.Lister.Each(sockdiag.StatesConnected, func(s *sockdiag.Socket) error {
			if held[s.Inode] && s.Inode != 0 {
				tcp[s.Inode] = *s
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	var out []Session
	for _, p := range sortedProcs(procs) {
		if s, ok := sc.session(p, procs, tcp); ok {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		_, e1 := Find(sc.SSHBin)
		_, e2 := Find(sc.SSHDBin)
		if e1 != nil && e2 != nil {
			return nil, marked{ErrUnreadable, fmt.Errorf("ssh --sessions: %w", ErrNoSSH)}
		}
	}
	slices.SortStableFunc(out, func(a, b Session) int {
		if a.Side != b.Side {
			return int(b.Side) - int(a.Side) // Server (1) first
		}
		return a.PIDs[0] - b.PIDs[0]
	})
	return out, nil
}

func sortedProcs(m map[int]*proc) []*proc {
	out := make([]*proc, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *proc) int { return a.pid - b.pid })
	return out
}

// session makes the session p roots, if it roots one: an sshd process
// whose parent is the listener (or no sshd at all: sshd -i) holding a
// connected TCP socket, or an ssh holding one. Other processes holding
// the same socket join its PIDs; a session process's further TCP sockets
// (port forwarding) are not sessions.
func (sc *SessionScan) session(p *proc, procs map[int]*proc, tcp map[uint32]sockdiag.Socket) (Session, bool) {
	var s Session
	switch {
	case p.comm == "ssh":
		s.Side = Client
	default:
		if _, role, ok := sshdTitle(p.title()); ok && role == "listener" {
			return s, false
		}
		if parent, ok := procs[p.ppid]; ok && parent.comm != "ssh" {
			if _, role, _ := sshdTitle(parent.title()); role != "listener" {
				return s, false // a child of the connection's process
			}
		}
		s.Side = Server
	}
	// The connection: the connected TCP socket with the lowest fd (ssh
	// connects before it forwards anything).
	var conn uint32
	found := false
	for ino, fd := range p.sockets {
		if _, ok := tcp[ino]; ok && (!found || fd < p.sockets[conn]) {
			conn, found = ino, true
		}
	}
	if !found {
		return s, false
	}
	s.Socket = tcp[conn]
	s.IdleS = -1
	holders := []*proc{p}
	for _, q := range sortedProcs(procs) {
		if _, ok := q.sockets[s.Socket.Inode]; ok && q != p {
			holders = append(holders, q)
		}
	}
	for _, h := range holders {
		s.PIDs = append(s.PIDs, h.pid)
	}
	slices.Sort(s.PIDs)
	s.Title = p.title()

	var opts *sockopt.Options
	if sc.Options != nil {
		if o, err := sc.Options.Read(sockdiag.Owner{PID: p.pid, FD: p.sockets[s.Socket.Inode]}, s.Socket.Inode); err == nil {
			opts = &o
		}
	}
	s.TCP = sockdiag.Judge(&s.Socket, opts, sc.Sysctls, sc.Net)

	if s.Side == Server {
		s.User = serverUser(holders)
		sc.serverConfig(&s, p, procs)
	} else {
		s.User = userName(p.uid)
		sc.clientConfig(&s, p)
	}
	sc.judge(&s)
	row := sockdiag.Row{Socket: &s.Socket, Verdict: s.TCP}
	row.JudgeLive(sc.Sysctls, sc.Net)
	if row.IsDying {
		s.Dying = &row.Dying
	}
	if s.Socket.HasInfo {
		i := s.Socket.Info
		s.IdleS = int(min(i.LastDataSent, i.LastDataRecv) / time.Second)
	}
	return s, true
}

// serverUser is the logged-in user of an sshd connection: from a title
// ("alice@pts/0", "alice [priv]"), else the uid of a process that dropped
// root (the session runs as the user), else a loginuid.
func serverUser(holders []*proc) string {
	preauth := false
	for _, h := range holders {
		u, role, ok := sshdTitle(h.title())
		if ok && u != "" && role != "preauth" {
			return u
		}
		preauth = preauth || role == "preauth"
	}
	if preauth {
		// Not authenticated yet: the unprivileged child runs as sshd's
		// privilege separation user, not as anyone logged in.
		return ""
	}
	for _, h := range holders {
		if h.uid > 0 {
			return userName(h.uid)
		}
	}
	for _, h := range holders {
		if h.loginuid >= 0 {
			return userName(h.loginuid)
		}
	}
	return ""
}

// userName is the name of uid, or the number when it has none.
func userName(uid int) string {
	if uid < 0 {
		return ""
	}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

// serverConfig reads sshd's settings for this connection: sshd -T with
// the running listener's -f and -o, and -C with the connection's user and
// addresses so Match blocks apply as they did for it.
func (sc *SessionScan) serverConfig(s *Session, p *proc, procs map[int]*proc) {
	if !sc.MayRunSSHD {
		s.ConfigNote = "sshd -T needs root: the SSH layer was not read"
		return
	}
	bin, args := sc.SSHDBin, []string{"-T"}
	if l, ok := procs[p.ppid]; ok {
		if _, role, _ := sshdTitle(l.title()); role == "listener" {
			if usable(l.exe) {
				bin = l.exe
			}
			args = append(args, sshdConfigArgs(listenerArgs(l))...)
		}
	}
	if s.User != "" {
		args = append(args, "-C", fmt.Sprintf("user=%s,host=%s,addr=%s,laddr=%s,lport=%d",
			s.User, s.Socket.Peer.Addr().Unmap(), s.Socket.Peer.Addr().Unmap(), s.Socket.Local.Addr().Unmap(), s.Socket.Local.Port()))
	}
	s.ConfigSource = "sshd " + strings.Join(args, " ")
	c, err := sc.run(nil, bin, args)
	if err != nil {
		s.ConfigNote = "not read: " + err.Error()
		return
	}
	st, err := c.Settings(Server)
	if err != nil {
		s.ConfigNote = "not read: sshd -T output: " + err.Error()
		return
	}
	s.SSH = &st
}

// clientConfig reads ssh's settings for the session's destination: ssh
// -G with the -F, -o, -p and -l it was started with, as the user who runs
// it (its ~/.ssh/config), with its own binary.
func (sc *SessionScan) clientConfig(s *Session, p *proc) {
	cl, ok := parseSSHArgv(p.argv)
	if !ok {
		s.ConfigNote = "no destination in ssh's command line: the SSH layer was not read"
		return
	}
	s.Destination = cl.destination
	// ssh read a relative -F from its own working directory.
	for i := 0; i+1 < len(cl.configArgs); i += 2 {
		if cl.configArgs[i] == "-F" && !filepath.IsAbs(cl.configArgs[i+1]) && cl.configArgs[i+1] != "none" {
			if cwd, err := os.Readlink(filepath.Join(sc.ProcRoot, strconv.Itoa(p.pid), "cwd")); err == nil {
				cl.configArgs[i+1] = filepath.Join(cwd, cl.configArgs[i+1])
			}
		}
	}
	bin := sc.SSHBin
	if usable(p.exe) {
		bin = p.exe
	}
	args := append(append([]string{}, cl.configArgs...), "-G", "--", cl.destination)
	var cred *syscall.Credential
	if sc.AsUser && p.uid > 0 {
		cred = &syscall.Credential{Uid: uint32(p.uid), Gid: uint32(max(p.gid, 0))}
	}
	s.ConfigSource = "ssh " + strings.Join(args, " ")
	if cred != nil {
		s.ConfigSource += " (as " + s.User + ")"
	}
	c, err := sc.run(cred, bin, args)
	if err != nil {
		s.ConfigNote = "not read: " + err.Error()
		return
	}
	s.HostName = first(c["hostname"])
	s.Port = first(c["port"])
	s.RemoteUser = first(c["user"])
	st, err := c.Settings(Client)
	if err != nil {
		s.ConfigNote = "not read: ssh -G output: " + err.Error()
		return
	}
	s.SSH = &st
}

// run runs ssh -G or sshd -T once per binary, user and arguments.
func (sc *SessionScan) run(cred *syscall.Credential, bin string, args []string) (Config, error) {
	key := bin + "\x00" + strings.Join(args, "\x00")
	if cred != nil {
		key += fmt.Sprintf("\x00%d", cred.Uid)
	}
	if r, ok := sc.configs[key]; ok {
		return r.c, r.err
	}
	c, err := sc.runConfig(cred, bin, args...)
	sc.configs[key] = configResult{c, err}
	return c, err
}

// usable: the process's binary can be run again (not replaced by an
// upgrade, which /proc shows as "(deleted)").
func usable(exe string) bool { return exe != "" && !strings.HasSuffix(exe, " (deleted)") }

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// judge says which layer ends the session if the peer vanishes: Judge
// with the side's SSH settings and the socket's own keepalive (its
// options when read, else its namespace's sysctls; on or off as its timer
// says when the options are not read).
func (sc *SessionScan) judge(s *Session) {
	s.EndsBy, s.DetectS = LayerUnknown, -1
	if s.SSH == nil {
		return
	}
	set := *s.SSH
	k := sc.Sysctls
	if s.TCP.HasOptions {
		k = s.TCP.Effective
	}
	// TCPKeepAlive from the socket itself where known; where a
	// retransmission timer hides it and no options were read, the config.
	if s.TCP.Keepalive != sockdiag.KeepaliveUnknown {
		set.TCPKeepAlive = s.TCP.Keepalive == sockdiag.KeepaliveOn
	}
	j := Judge(set, k, 0)
	s.Judgment = &j
	s.EndsBy, s.DetectS = j.First, j.Detect
}
