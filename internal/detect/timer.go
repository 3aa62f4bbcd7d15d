package detect

import "time"

// DefaultHZ is the tick rate assumed when the kernel's CONFIG_HZ cannot be
// read (the rate of the kernel the model was checked against: Linux 6.18).
const DefaultHZ = 250

// CommonHZ are the tick rates kernels are built with. A bound that must
// hold on machines tcpka cannot see (a plan, a shipped profile) holds on
// each of them.
var CommonHZ = [...]int{100, 250, 300, 1000}

// Timer-wheel shape, from kernel/time/timer.c: each level has 64 buckets
// and is 8 times coarser than the one below; 9 levels above HZ=100, 8 at
// it and below.
const (
	lvlClkShift = 3
	lvlSize     = 64
)

func depth(hz int) int {
	if hz > 100 {
		return 9
	}
	return 8
}

// jiffy is one tick at hz.
func jiffy(hz int) time.Duration { return time.Second / time.Duration(hz) }

// toJiffies rounds d up to whole jiffies, as msecs_to_jiffies does.
func toJiffies(d time.Duration, hz int) int64 {
	return int64((d*time.Duration(hz) + time.Second - 1) / time.Second)
}

// levelOf is the wheel level calc_wheel_index picks for a timer whose
// expiry lies delta jiffies past the wheel's clock: level n holds
// 63*8^(n-1) <= delta < 63*8^n (LVL_START).
func levelOf(delta int64, hz int) int {
	lvl := 0
	for lvl < depth(hz)-1 && delta >= int64(lvlSize-1)<<(lvl*lvlClkShift) {
		lvl++
	}
	return lvl
}

// gran is the granularity, in jiffies, of the level holding a timer armed
// delay jiffies ahead. The wheel's clock is one past jiffies while timers
// run (__run_timers), so a timer re-armed from a timer callback (fromTimer)
// is filed by delay-1.
func gran(delay int64, fromTimer bool, hz int) int64 {
	if fromTimer {
		delay--
	}
	return int64(1) << (levelOf(delay, hz) * lvlClkShift)
}

// Granularity is how late, at most, a timer armed delay ahead fires: the
// granularity of the timer-wheel level that holds it. calc_index files a
// timer in the bucket after its expiry, ((expires >> shift) + 1) << shift,
// so it fires 1 jiffy to one granularity after the time asked, never early.
// At HZ=250: 1 jiffy (4 ms) below 252 ms, 32 ms below 2.016 s, 256 ms below
// 16.128 s, 2.048 s below 129 s, 16.4 s below 1032 s, 131 s below 8256 s.
func Granularity(delay time.Duration, hz int) time.Duration {
	if hz <= 0 {
		hz = DefaultHZ
	}
	return time.Duration(gran(toJiffies(delay, hz), false, hz)) * jiffy(hz)
}

// Lateness is how much later than asked a timer armed delay ahead fires.
// Min is the least: 1 jiffy, or exactly Max when the timer is armed on a
// boundary of its level (onBoundary: it is re-armed by a timer of the
// same level or a coarser one, which itself fired on such a boundary);
// then it is late by the same amount every time: a 17 s interval at
// HZ=250 (4250 jiffies, granularity 512) fires after 4608 jiffies,
// 1.432 s late. Max is what the bucket after the expiry allows.
func Lateness(delay time.Duration, hz int, onBoundary bool) (minLate, maxLate time.Duration) {
	if hz <= 0 {
		hz = DefaultHZ
	}
	j := toJiffies(delay, hz)
	g := gran(j, onBoundary, hz)
	align := int64(1)
	if onBoundary {
		align = g
	}
	lo, hi := late(j, align, g)
	return time.Duration(lo) * jiffy(hz), time.Duration(hi) * jiffy(hz)
}

// late is the range of bucket - expires for a timer armed j jiffies ahead
// at a moment that is a multiple of align, in a level of granularity g
// (both powers of 8, or align 1): expires mod g takes the values
// j mod align + k*align, and the bucket is the next multiple of g above.
func late(j, align, g int64) (lo, hi int64) {
	if align >= g {
		l := g - j%g
		return l, l
	}
	r := j % align
	return align - r, g - r
}
