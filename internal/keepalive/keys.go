package keepalive

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Unit is how a key's value is counted, in the kernel's units.
type Unit int

const (
	// Seconds: a duration in whole seconds; a profile writes "90s", "2m"
	// or a bare integer.
	Seconds Unit = iota
	// Count: a plain number.
	Count
	// Millis: a duration in milliseconds, as the kernel takes
	// TCP_USER_TIMEOUT; a profile writes whole seconds ("2m").
	Millis
)

// SockOpt is a socket option that carries a key: setsockopt(level, opt).
type SockOpt struct {
	Name       string // "TCP_KEEPIDLE"
	Level, Opt int
}

// Key is everything tcpka knows about one setting, in one place: where a
// Settings holds it, how a profile spells it, the sysctl and the socket
// option that carry it, its unit and limits, and its names in JSON, in
// metrics and for people. Profile decoding, validation, sysctl reads and
// writes, the drop-in, revert records, JSON and metrics all loop over
// Keys(), so adding a key is one entry here plus what is truly specific
// to it (a model rule in internal/detect, if any).
type Key struct {
	// Profile is the key in a profile file: "time".
	Profile string
	// Sysctl is the file under /proc/sys/net/ipv4 ("tcp_keepalive_time");
	// "" for a key no sysctl holds (TCP_USER_TIMEOUT).
	Sysctl string
	// Optional: a proc tree may lack the sysctl and still be read (a bind
	// mount of the keepalive files alone lacks tcp_retries2); it then reads
	// as 0, unknown. Writing a missing one is an error.
	Optional bool
	// SockOpt is the socket option that carries the key; the zero value
	// for a namespace-only key (tcp_retries2).
	SockOpt SockOpt
	Unit    Unit
	// Min and Max bound a value tcpka writes, in Unit: the kernel's
	// per-socket limits where a socket option exists (they are tighter
	// than what the sysctls take).
	Min, Max int
	// JSON names the value in every --json output ("time_s").
	JSON string
	// Always: the JSON field is present in every settings object, null
	// where partial settings leave the key unset; otherwise it is left out
	// when unset.
	Always bool
	// Metric is the gauge of a namespace's value ("" for none), and
	// MetricHelp its help text.
	Metric, MetricHelp string
	// Meaning says in a few words what the key controls, for show.
	Meaning string

	get func(Settings) int
	set func(*Settings, int)
}

// The kernel's limits. The per-socket ones (include/net/tcp.h:
// MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT) are the tighter of
// the two ways to set a value, so a valid value works as a sysctl and as a
// socket option. tcp_retries2 is a u8 sysctl; TCP_USER_TIMEOUT an int of
// milliseconds.
const (
	MaxTime        = 32767
	MaxIntvl       = 32767
	MaxProbes      = 127
	MaxRetries2    = 255
	MaxUserTimeout = (1<<31 - 1) * time.Millisecond
)

// The keys, in the order they are shown, written and listed.
var (
	Time = register(&Key{
		Profile: "time", Sysctl: "tcp_keepalive_time",
		SockOpt: SockOpt{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE},
		Unit:    Seconds, Min: 1, Max: MaxTime, JSON: "time_s", Always: true,
		Metric:     "tcpka_keepalive_time_seconds",
		MetricHelp: "net.ipv4.tcp_keepalive_time: idle time before the first keepalive probe.",
		Meaning:    "idle time before the first probe",
		get:        func(s Settings) int { return s.Time },
		set:        func(s *Settings, n int) { s.Time = n },
	})
	Intvl = register(&Key{
		Profile: "interval", Sysctl: "tcp_keepalive_intvl",
		SockOpt: SockOpt{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL},
		Unit:    Seconds, Min: 1, Max: MaxIntvl, JSON: "intvl_s", Always: true,
		Metric:     "tcpka_keepalive_interval_seconds",
		MetricHelp: "net.ipv4.tcp_keepalive_intvl: time between unanswered keepalive probes.",
		Meaning:    "between unanswered probes",
		get:        func(s Settings) int { return s.Intvl },
		set:        func(s *Settings, n int) { s.Intvl = n },
	})
	Probes = register(&Key{
		Profile: "probes", Sysctl: "tcp_keepalive_probes",
		SockOpt: SockOpt{"TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT},
		Unit:    Count, Min: 1, Max: MaxProbes, JSON: "probes", Always: true,
		Metric:     "tcpka_keepalive_probes",
		MetricHelp: "net.ipv4.tcp_keepalive_probes: unanswered probes before the connection is reset.",
		Meaning:    "unanswered probes before the connection is reset",
		get:        func(s Settings) int { return s.Probes },
		set:        func(s *Settings, n int) { s.Probes = n },
	})
	Retries2 = register(&Key{
		Profile: "retries2", Sysctl: "tcp_retries2", Optional: true,
		Unit: Count, Min: 1, Max: MaxRetries2, JSON: "retries2",
		Metric:     "tcpka_tcp_retries2",
		MetricHelp: "net.ipv4.tcp_retries2: retransmissions before a connection with unacknowledged data gives up.",
		Meaning:    "retransmissions before unacknowledged data gives up",
		get:        func(s Settings) int { return s.Retries2 },
		set:        func(s *Settings, n int) { s.Retries2 = n },
	})
	UserTimeout = register(&Key{
		Profile: "user_timeout",
		SockOpt: SockOpt{"TCP_USER_TIMEOUT", unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT},
		Unit:    Millis, Min: 1, Max: int(MaxUserTimeout / time.Millisecond), JSON: "user_timeout_ms",
		Meaning: "TCP_USER_TIMEOUT: how long sent data may stay unacknowledged",
		get:     func(s Settings) int { return int(s.UserTimeout / time.Millisecond) },
		set:     func(s *Settings, n int) { s.UserTimeout = time.Duration(n) * time.Millisecond },
	})
)

// ExtraSlots is how many keys beyond the five above a Settings can hold:
// a key that only needs reading, writing, showing and exporting (no rule
// of the model reads it by name) is one Register call and nothing else.
const ExtraSlots = 4

var table struct {
	sync.RWMutex
	keys    []*Key
	sysctls []*Key
	extra   int // slots handed out
}

func register(k *Key) *Key {
	table.keys = append(table.keys, k)
	if k.Sysctl != "" {
		table.sysctls = append(table.sysctls, k)
	}
	return k
}

// Register adds a key to the table, after the others, and stores its
// values in one of Settings' spare slots; it panics when they are used
// up or the names clash, as a programming error. Call it from an init
// function (or a test's), before any Settings is used.
func Register(k Key) *Key {
	table.Lock()
	defer table.Unlock()
	if table.extra == ExtraSlots {
		panic("keepalive: no spare slot for key " + k.Profile)
	}
	for _, o := range table.keys {
		if o.Profile == k.Profile || o.JSON == k.JSON || (k.Sysctl != "" && o.Sysctl == k.Sysctl) || (k.Metric != "" && o.Metric == k.Metric) {
			panic("keepalive: key " + k.Profile + " clashes with " + o.Profile)
		}
	}
	slot := table.extra
	table.extra++
	k.get = func(s Settings) int { return s.extra[slot] }
	k.set = func(s *Settings, n int) { s.extra[slot] = n }
	return register(&k)
}

// Keys lists every key in table order. The slice is shared: do not
// modify it.
func Keys() []*Key {
	table.RLock()
	defer table.RUnlock()
	return table.keys
}

// SysctlKeys lists, in table order, the keys a network namespace's
// sysctls hold: those tcpka reads, writes and records.
func SysctlKeys() []*Key {
	table.RLock()
	defer table.RUnlock()
	return table.sysctls
}

// SocketKeys lists, in table order, the keys a TCP socket carries as an
// option (TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_USER_TIMEOUT):
// the order setsockopt and enforce's BPF program write them, the
// per-socket options before SO_KEEPALIVE, so the timer is armed with the
// new idle time. Built on each call: it is not needed at every start.
func SocketKeys() []*Key {
	var out []*Key
	for _, k := range Keys() {
		if k.SockOpt.Name != "" {
			out = append(out, k)
		}
	}
	return out
}

// KeyBySysctl finds a key by its sysctl: "tcp_keepalive_time",
// "net.ipv4.tcp_keepalive_time" or "net/ipv4/tcp_keepalive_time".
func KeyBySysctl(name string) (*Key, bool) {
	for _, k := range SysctlKeys() {
		if name == k.Sysctl || name == k.Dotted() || name == k.RelPath() {
			return k, true
		}
	}
	return nil, false
}

// KeyByProfile finds a key by its name in a profile: "time".
func KeyByProfile(name string) (*Key, bool) {
	for _, k := range Keys() {
		if k.Profile == name {
			return k, true
		}
	}
	return nil, false
}

// Get is k's value in s, in k's Unit; 0 when s does not set it.
func (k *Key) Get(s Settings) int { return k.get(s) }

// Set stores n, in k's Unit, as k's value in s.
func (k *Key) Set(s *Settings, n int) { k.set(s, n) }

// Dotted is the sysctl(8) name, "net.ipv4.tcp_keepalive_time".
func (k *Key) Dotted() string { return "net.ipv4." + k.Sysctl }

// RelPath is the path below /proc/sys, "net/ipv4/tcp_keepalive_time".
func (k *Key) RelPath() string { return "net/ipv4/" + k.Sysctl }

// Label is how a key is named to people: its sysctl, or for a socket
// option alone its profile key.
func (k *Key) Label() string {
	if k.Sysctl != "" {
		return k.Sysctl
	}
	return k.Profile
}

// Suffix is the unit written after a value: "s", "ms" or "".
func (k *Key) Suffix() string {
	switch k.Unit {
	case Seconds:
		return "s"
	case Millis:
		return "ms"
	}
	return ""
}

// Format prints n with its unit: "7200 s", "9", "25000 ms".
func (k *Key) Format(n int) string {
	if u := k.Suffix(); u != "" {
		return strconv.Itoa(n) + " " + u
	}
	return strconv.Itoa(n)
}

// Check refuses n unless it lies in Min..Max; the error names the key and
// wraps ErrOutOfRange.
func (k *Key) Check(n int) error {
	if n >= k.Min && n <= k.Max {
		return nil
	}
	return fmt.Errorf("%s %s is %w: must be %d..%s", k.Profile, k.Format(n), ErrOutOfRange, k.Min, k.Format(k.Max))
}

// Equal says whether k and o are the same key: a key is its entry in the
// table (go-cmp compares keys with it).
func (k *Key) Equal(o *Key) bool { return k == o }

// FormatUserTimeout prints a TCP_USER_TIMEOUT in its kernel unit, named:
// "3000 ms". Every command prints it so.
func FormatUserTimeout(d time.Duration) string { return UserTimeout.Format(int(d / time.Millisecond)) }
