package probe

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/tcpka/tcpka/internal/netns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// delayLine joins A and B through two TUN devices and this process: what
// A sends reaches B delay later, what B sends reaches A at once, so a
// connection from A has a round trip of delay. It stands in for netem,
// which many kernels are built without (CONFIG_NET_SCH_NETEM); TUN is
// nearly everywhere. The devices take the addresses a veth pair would
// have; there is no ARP on them, so a silenced B is simply silent.
type delayLine struct {
	files [2]*os.File
	wg    sync.WaitGroup
}

// newDelayLine makes tcpka0 in A and tcpka1 in B, addresses them and
// starts relaying. Stop it with close.
func newDelayLine(s *scratch, ha, hb *netlink.Handle, delay time.Duration) (*delayLine, error) {
	d := &delayLine{}
	for i, x := range []struct {
		h    *netlink.Handle
		name string
		addr *netlink.Addr
	}{{ha, "tcpka0", &netlink.Addr{IPNet: addrA}}, {hb, "tcpka1", &netlink.Addr{IPNet: addrB}}} {
		if err := netns.Do(s.handles[i], func() (err error) { d.files[i], err = openTun(x.name); return err }); err != nil {
			d.close()
			return nil, fmt.Errorf("TUN device %s in scratch netns %s: %w (%w: needs CONFIG_TUN)", x.name, s.names[i], err, errUnsupported)
		}
		l, err := x.h.LinkByName(x.name)
		if err == nil {
			err = x.h.AddrAdd(l, x.addr)
		}
		if err == nil {
			err = x.h.LinkSetUp(l)
		}
		if err != nil {
			d.close()
			return nil, fmt.Errorf("TUN device %s: %w", x.name, err)
		}
	}
	d.relay(d.files[0], d.files[1], delay)
	d.relay(d.files[1], d.files[0], 0)
	return d, nil
}

// openTun creates a TUN device (IP packets, no packet information) in the
// calling thread's network namespace.
func openTun(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	ifr, err := unix.NewIfreq(name)
	if err == nil {
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun:"+name), nil
}

// relay copies packets from one device to the other, each delay after it
// came, in order.
func (d *delayLine) relay(from, to *os.File, delay time.Duration) {
	type packet struct {
		due time.Time
		b   []byte
	}
	q := make(chan packet, 4096)
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		defer close(q)
		buf := make([]byte, 65536)
		for {
			n, err := from.Read(buf)
			if err != nil {
				return // closed
			}
			q <- packet{time.Now().Add(delay), append([]byte(nil), buf[:n]...)}
		}
	}()
	go func() {
		defer d.wg.Done()
		for p := range q {
			time.Sleep(time.Until(p.due))
			to.Write(p.b) // a closed device: the line is going away
		}
	}()
}

func (d *delayLine) close() {
	for _, f := range d.files {
		if f != nil {
			f.Close()
		}
	}
	d.wg.Wait()
}
