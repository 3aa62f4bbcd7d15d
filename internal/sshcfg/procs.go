package sshcfg

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// proc is one ssh or sshd process as /proc shows it.
type proc struct {
	pid, ppid int
	comm      string
	uid, gid  int // real ids
	loginuid  int // -1 when unset (no pam_loginuid)
	// argv is /proc/PID/cmdline split at NULs. A process that set its
	// title (sshd's "sshd: user [priv]") has one element, the title.
	argv []string
	exe  string
	// sockets maps the inode of each socket it holds to one fd holding it.
	sockets map[uint32]int
}

// title is what ps shows: argv joined by spaces.
func (p *proc) title() string { return strings.Join(p.argv, " ") }

// sshComms are the command names of OpenSSH's processes: ssh; sshd for
// the listener and, before 9.8, for every per-connection process;
// sshd-session (9.8+) and sshd-auth (10.0+) after them.
var sshComms = map[string]bool{"ssh": true, "sshd": true, "sshd-session": true, "sshd-auth": true}

// readProcs reads every ssh and sshd process under procRoot. Processes
// that exit meanwhile or cannot be read (another user's fds without root)
// are kept with what could be read.
func readProcs(procRoot string) (map[int]*proc, error) {
	d, err := os.Open(procRoot)
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	out := map[int]*proc{}
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 0 {
			continue
		}
		dir := filepath.Join(procRoot, name)
		comm, err := os.ReadFile(filepath.Join(dir, "comm"))
		if err != nil || !sshComms[strings.TrimSpace(string(comm))] {
			continue
		}
		p := &proc{pid: pid, comm: strings.TrimSpace(string(comm)), uid: -1, gid: -1, loginuid: -1, sockets: map[uint32]int{}}
		p.readStatus(dir)
		if b, err := os.ReadFile(filepath.Join(dir, "loginuid")); err == nil {
			if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err == nil && n != 1<<32-1 {
				p.loginuid = int(n)
			}
		}
		if b, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
			p.argv = splitCmdline(b)
		}
		p.exe, _ = os.Readlink(filepath.Join(dir, "exe"))
		p.readSockets(dir)
		out[pid] = p
	}
	return out, nil
}

// readStatus takes PPid, Uid and Gid from /proc/PID/status.
func (p *proc) readStatus(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		switch k {
		case "PPid":
			p.ppid = n
		case "Uid":
			p.uid = n
		case "Gid":
			p.gid = n
		}
	}
}

// readSockets maps the socket inodes in /proc/PID/fd.
func (p *proc) readSockets(dir string) {
	fds, err := os.ReadDir(filepath.Join(dir, "fd"))
	if err != nil {
		return
	}
	for _, e := range fds {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		link, err := os.Readlink(filepath.Join(dir, "fd", e.Name()))
		if err != nil {
			continue
		}
		ino, ok := strings.CutPrefix(link, "socket:[")
		if !ok || !strings.HasSuffix(ino, "]") {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSuffix(ino, "]"), 10, 32); err == nil {
			if _, seen := p.sockets[uint32(n)]; !seen {
				p.sockets[uint32(n)] = fd
			}
		}
	}
}

// splitCmdline splits /proc/PID/cmdline at NULs, dropping the padding a
// retitled process leaves.
func splitCmdline(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\x00")
}

// sshdTitle is what a per-connection sshd process says of itself:
// "sshd: alice [priv]" (the privileged monitor), "sshd: alice@pts/0" or
// "sshd: alice@notty" (the session), "sshd: alice [net]" or
// "sshd: unknown [net]" (before authentication); 9.8+ says
// "sshd-session:". user is "" before authentication is known.
func sshdTitle(title string) (user, role string, ok bool) {
	prefix, rest, found := strings.Cut(title, ": ")
	if !found || !strings.HasPrefix(prefix, "sshd") || strings.ContainsRune(prefix, ' ') {
		return "", "", false
	}
	if strings.Contains(rest, "[listener]") {
		return "", "listener", true
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return "", "", false
	}
	if u, tty, ok := strings.Cut(f[0], "@"); ok {
		return u, tty, true
	}
	if len(f) > 1 {
		role = strings.Trim(f[1], "[]")
	}
	switch f[0] {
	case "unknown", "[accepted]", "[net]":
		return "", "preauth", true
	}
	if role == "net" {
		role = "preauth"
	}
	return f[0], role, true
}

// listenerArgs recovers a listening sshd's command line from its title,
// "sshd: /usr/sbin/sshd -D -f /etc/ssh/other [listener] 0 of 10-100
// startups" (sshd 8.9+ retitles the listener so), or from its argv when
// it kept it. Arguments holding spaces cannot be told apart in a title.
func listenerArgs(p *proc) []string {
	if len(p.argv) > 1 {
		return p.argv[1:]
	}
	t := p.title()
	_, rest, ok := strings.Cut(t, ": ")
	if !ok {
		return nil
	}
	rest, _, ok = strings.Cut(rest, " [listener]")
	if !ok {
		return nil
	}
	f := strings.Fields(rest)
	if len(f) < 1 {
		return nil
	}
	return f[1:]
}

// sshdConfigArgs keeps the arguments of sshd that choose its
// configuration: -f FILE and -o OPTION (joined or separate).
func sshdConfigArgs(args []string) []string {
	return keepOptions(args, sshdOpts, "fo")
}

// sshdOpts is sshd's getopt string (OpenSSH 9.x sshd.c).
const sshdOpts = "C:E:b:c:f:g:h:k:o:p:u:46DGQRTdeiqrtV"

// sshClient is what ssh's argv says: the destination as typed and the
// options that choose its configuration.
type sshClient struct {
	destination string
	configArgs  []string // -F, -o, -p, -l, in order
}

// sshOpts is ssh's getopt string (OpenSSH 9.x ssh.c).
const sshOpts = "1246ab:c:e:fgi:kl:m:no:p:qstvxAB:CD:E:F:GI:J:KL:MNO:P:Q:R:S:TVw:W:XYy"

// parseSSHArgv finds the destination in ssh's argv (options may also
// follow it, as ssh allows, until "--" or the remote command).
func parseSSHArgv(argv []string) (sshClient, bool) {
	var c sshClient
	if len(argv) < 2 {
		return c, false
	}
	args := argv[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if c.destination == "" && i+1 < len(args) {
				c.destination = args[i+1]
			}
			return c, c.destination != ""
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				k := strings.IndexByte(sshOpts, a[j])
				if k < 0 {
					break // unknown: ssh would refuse it; skip the word
				}
				if k+1 < len(sshOpts) && sshOpts[k+1] == ':' {
					v := a[j+1:]
					if v == "" && i+1 < len(args) {
						i++
						v = args[i]
					}
					if strings.IndexByte("Fopl", a[j]) >= 0 {
						c.configArgs = append(c.configArgs, "-"+string(a[j]), v)
					}
					break
				}
			}
		case c.destination == "":
			c.destination = a
		default:
			return c, true // the remote command
		}
	}
	return c, c.destination != ""
}

// keepOptions walks args with a getopt string and keeps the options
// whose letters are in keep, each with its value, as separate words.
func keepOptions(args []string, opts, keep string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || a[0] != '-' {
			continue
		}
		for j := 1; j < len(a); j++ {
			k := strings.IndexByte(opts, a[j])
			if k < 0 {
				break
			}
			if k+1 < len(opts) && opts[k+1] == ':' {
				v := a[j+1:]
				if v == "" && i+1 < len(args) {
					i++
					v = args[i]
				}
				if strings.IndexByte(keep, a[j]) >= 0 {
					out = append(out, "-"+string(a[j]), v)
				}
				break
			}
		}
	}
	return out
}
