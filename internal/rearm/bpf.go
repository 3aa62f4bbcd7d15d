package rearm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/tcpka/tcpka/internal/enforce"
	"golang.org/x/sys/unix"
)

// ProgramName is the name the iterator program is loaded under (bpftool
// prog shows it while a pass runs; nothing is pinned).
const ProgramName = "tcpka_rearm"

// readSize is how much one read(2) of the iterator asks for. The kernel
// stops calling the program for a read once the output reaches the size
// asked (bpf_seq_read), and its buffer is 8 pages: asking for one page at
// a time keeps every record of a socket in the buffer, so the toggle is
// never repeated for want of room.
const readSize = 4096

// fallback says whether Auto should try pidfd after BPF failed with err.
func fallback(err error) bool {
	return errors.Is(err, ErrUnsupported) || errors.Is(err, enforce.ErrPermission)
}

// bpfIter is the iterator program, loaded and attached to the tcp target
// (an iterator link: nothing global, nothing pinned; the program runs only
// while an iterator created from it is read).
type bpfIter struct {
	prog *ebpf.Program
	link *link.Iter
}

func (it *bpfIter) close() error {
	var errs []error
	if it.link != nil {
		errs = append(errs, it.link.Close())
	}
	if it.prog != nil {
		errs = append(errs, it.prog.Close())
	}
	return errors.Join(errs...)
}

// loadIter loads the program for dry or live passes.
func loadIter(dry bool) (*bpfIter, error) {
	l, err := kernelLayout()
	if err != nil {
		return nil, err
	}
	prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Name:         ProgramName,
		Type:         ebpf.Tracing,
		AttachType:   ebpf.AttachTraceIter,
		AttachTo:     "tcp",
		Instructions: instructions(l, dry),
		License:      "GPL", // bpf_seq_write is GPL-only
	}, ebpf.ProgramOptions{})
	if err != nil {
		return nil, explainLoad(err)
	}
	it, err := link.AttachIter(link.IterOptions{Program: prog})
	if err != nil {
		prog.Close()
		return nil, explainIter("attach the tcp iterator", err)
	}
	return &bpfIter{prog: prog, link: it}, nil
}

// loadIterFunc is loadIter; a test makes it fail to force the fallback.
var loadIterFunc = loadIter

// iter returns the loaded program for dry or live passes, loading it on
// first use; a kernel that cannot run it is remembered. A dry run loads
// the live program too, though it never runs it: the dry one lacks
// bpf_setsockopt and would load on kernels (5.12 to 5.14) where the live
// one cannot, and a dry run must say what Namespace would do, method
// included.
func (r *Rearmer) iter(dry bool) (*bpfIter, error) {
	if r.bpfErr != nil {
		return nil, r.bpfErr
	}
	for i, d := range []bool{false, true} {
		if r.iters[i] == nil {
			it, err := loadIterFunc(d)
			if err != nil {
				if fallback(err) {
					r.bpfErr = err
				}
				return nil, err
			}
			r.iters[i] = it
		}
		if d == dry {
			break
		}
	}
	if dry {
		return r.iters[1], nil
	}
	return r.iters[0], nil
}

// explainLoad sorts a load failure. EPERM is a missing privilege
// (enforce.ErrPermission), and so is EACCES unless the verifier explains
// it (it refuses programs with EACCES too). Anything else, the verifier's
// refusal included, is taken as a kernel that cannot run the program
// (ErrUnsupported, with the kernel's words): kernels before 5.15 refuse
// bpf_setsockopt in a tcp iterator, and an older verifier may refuse other
// parts; pidfd still works there. On the kernels CI runs, the BPF test
// asks for BPF by name, so a bug here fails it rather than falling back.
func explainLoad(err error) error {
	var ve *ebpf.VerifierError
	switch {
	case errors.Is(err, unix.EPERM):
		return enforce.ExplainBPF("load the re-arm program", err)
	case errors.As(err, &ve) && len(ve.Log) > 0:
		return fmt.Errorf("%w: the verifier refused the program (bpf_setsockopt in a tcp iterator needs Linux 5.15+): %w", ErrUnsupported, err)
	case errors.Is(err, unix.EACCES):
		return enforce.ExplainBPF("load the re-arm program", err)
	}
	return fmt.Errorf("%w: load the program: %w", ErrUnsupported, err)
}

// explainIter sorts a failure to attach or create the iterator, before
// the program ever ran, the same way.
func explainIter(what string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return enforce.ExplainBPF(what, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrUnsupported, what, err)
}

// runBPF is one pass of the iterator over the calling thread's network
// namespace.
func (r *Rearmer) runBPF(ctx context.Context, dry bool) (Result, error) {
	opt := r.opt
	res := Result{Method: BPF}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	it, err := r.iter(dry)
	if err != nil {
		return res, err
	}
	if secs, err := readTimeSeconds(opt.ProcRoot); err == nil {
		res.Limit = time.Duration(secs) * time.Second
	}
	// The iterator walks the namespace of the thread that creates it
	// (bpf_iter_init_seq_net takes current->nsproxy->net_ns): this one.
	rd, err := it.link.Open()
	if err != nil {
		return res, explainIter("create the tcp iterator", err)
	}
	defer rd.Close()

	buf := make([]byte, readSize)
	var c collector
	for {
		if err := ctx.Err(); err != nil {
			// Stop reading: the sockets not yet reached stay as they
			// were; those reported so far are counted.
			break
		}
		n, err := rd.Read(buf)
		if perr := c.write(buf[:n]); perr != nil {
			return tally(res, c.recs, opt), fmt.Errorf("re-arm iterator output: %w", perr)
		}
		if errors.Is(err, io.EOF) || n == 0 && err == nil {
			break
		}
		if err != nil {
			return tally(res, c.recs, opt), fmt.Errorf("read the tcp iterator: %w", err)
		}
	}
	res = tally(res, c.recs, opt)
	if len(c.carry) != 0 {
		return res, fmt.Errorf("re-arm iterator output: %d bytes left over", len(c.carry))
	}
	if res.Failed > 0 {
		for _, r := range c.recs {
			if r.verdict == vLeftOff {
				return res, fmt.Errorf("%w on %s -> %s: %w", errLeftOff, r.local, r.peer, unix.Errno(-r.err))
			}
		}
	}
	return res, ctx.Err()
}

// collector turns the iterator's output into one record per socket.
type collector struct {
	carry []byte         // a record split between two reads
	last  uint64         // cookie of the previous record
	seen  map[uint64]int // cookie -> index in recs
	recs  []record
}

// write takes the next bytes of output. A socket shown twice keeps its
// first record: the kernel shows a socket again when it resumes a hash
// bucket that changed between two reads (iterators that resume a bucket
// by position can repeat one), and the first showing is the one that
// acted. The exception is the second record the program writes when the
// kernel refused the toggle: it directly follows the first and replaces
// it.
func (c *collector) write(b []byte) error {
	if c.seen == nil {
		c.seen = map[uint64]int{}
	}
	data := append(c.carry, b...)
	for len(data) >= recordLen {
		rec, err := parseRecord(data[:recordLen])
		data = data[recordLen:]
		if err != nil {
			return err
		}
		i, dup := c.seen[rec.cookie]
		switch {
		case !dup:
			c.seen[rec.cookie] = len(c.recs)
			c.recs = append(c.recs, rec)
		case rec.cookie == c.last && (rec.verdict == vFailed || rec.verdict == vLeftOff):
			c.recs[i] = rec
		}
		c.last = rec.cookie
	}
	c.carry = append(c.carry[:0], data...)
	return nil
}

// tally turns records into counts and calls opt.Each. The sysctl comes
// back in jiffies; with res.Limit, the same sysctl in seconds, it gives HZ,
// and so the due times in real time.
func tally(res Result, recs []record, opt Options) Result {
	var hz float64
	for _, r := range recs {
		if r.limit != 0 && res.Limit > 0 {
			hz = float64(r.limit) / res.Limit.Seconds()
			break
		}
	}
	for _, r := range recs {
		s := Socket{Local: r.local, Peer: r.peer, State: r.state, Inode: r.inode, DueIn: -1}
		switch r.verdict {
		case vOff:
			s.Verdict = Off
		case vOwn:
			s.Verdict = Own
		case vCurrent:
			s.Verdict = Current
		case vRearmed, vWould:
			s.Verdict = Rearmed
		case vFailed, vLeftOff:
			s.Verdict = Failed
			s.Err = fmt.Errorf("bpf_setsockopt SO_KEEPALIVE: %w", unix.Errno(-r.err))
			if r.verdict == vLeftOff {
				s.Err = fmt.Errorf("%w: %w", errLeftOff, s.Err)
			}
		}
		if (s.Verdict == Current || s.Verdict == Rearmed) && r.due != dueNone && hz > 0 {
			s.DueIn = time.Duration(float64(r.due) / hz * float64(time.Second))
		}
		res.count(s.Verdict)
		if opt.Each != nil {
			opt.Each(s)
		}
	}
	return res
}
