package sockdiag

import (
	"bytes"
	"fmt"
	"os"
	"strconv"

	"github.com/tcpka/tcpka/internal/procname"
	"golang.org/x/sys/unix"
)

// Owner is a process holding a socket and the descriptor it holds it by.
type Owner struct {
	PID int
	FD  int
}

// Owners maps socket inodes to the processes that hold them, read from
// /proc/PID/fd under a proc root. A socket shared by several processes
// (fork, SCM_RIGHTS) maps to the lowest pid seen, like the first ss -p
// entry; processes that exit during the scan are skipped.
type Owners struct {
	procRoot string
	byInode  map[uint32]Owner
	comm     map[int]string
}

// ReadOwners scans procRoot/*/fd. Unreadable processes (exited, or not
// permitted without root) are skipped; only a missing proc root fails.
func ReadOwners(procRoot string) (*Owners, error) {
	d, err := os.Open(procRoot)
	if err != nil {
		return nil, fmt.Errorf("read processes: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("read processes: %w", err)
	}
	o := &Owners{procRoot: procRoot, byInode: make(map[uint32]Owner), comm: make(map[int]string)}
	buf := make([]byte, 64)
	dents := make([]byte, 32<<10)
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 0 {
			continue
		}
		o.scan(pid, buf, dents)
	}
	return o, nil
}

// scan reads /proc/PID/fd with getdents and readlinkat, no per-fd paths.
func (o *Owners) scan(pid int, buf, dents []byte) {
	dir := o.procRoot + "/" + strconv.Itoa(pid) + "/fd"
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return // exited, or a kernel thread's fd dir we may not read
	}
	defer unix.Close(dfd)
	var fdNames []string
	for {
		n, err := unix.Getdents(dfd, dents)
		if err != nil || n <= 0 {
			break
		}
		_, _, fdNames = unix.ParseDirent(dents[:n], -1, fdNames[:0])
		for _, fdName := range fdNames {
			n, err := unix.Readlinkat(dfd, fdName, buf)
			if err != nil || n <= 9 {
				continue
			}
			inode, ok := socketInode(buf[:n])
			if !ok {
				continue
			}
			fd, err := strconv.Atoi(fdName)
			if err != nil {
				continue
			}
			if prev, seen := o.byInode[inode]; !seen || pid < prev.PID {
				o.byInode[inode] = Owner{PID: pid, FD: fd}
			}
		}
	}
}

// socketInode parses "socket:[12345]".
func socketInode(link []byte) (uint32, bool) {
	if !bytes.HasPrefix(link, []byte("socket:[")) || link[len(link)-1] != ']' {
		return 0, false
	}
	var n uint64
	for _, c := range link[8 : len(link)-1] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
		if n > 1<<32-1 {
			return 0, false
		}
	}
	return uint32(n), true
}

// Len is the number of socket inodes found.
func (o *Owners) Len() int { return len(o.byInode) }

// Owner returns the process holding the socket with this inode.
func (o *Owners) Owner(inode uint32) (Owner, bool) {
	ow, ok := o.byInode[inode]
	return ow, ok
}

// Comm returns the process's command name (/proc/PID/comm; a kernel
// thread's marked " (kernel thread)"), "?" if it is gone; names are cached
// per pid. It is the kernel's text: a printer escapes it.
func (o *Owners) Comm(pid int) string {
	if c, ok := o.comm[pid]; ok {
		return c
	}
	c := "?"
	if name, err := procname.Read(o.procRoot, pid); err == nil {
		c = name
	}
	o.comm[pid] = c
	return c
}
