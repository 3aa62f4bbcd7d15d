package detect

import "time"

// DefaultHZ is the tick rate assumed when the kernel's CONFIG_HZ cannot be
// read (the rate of the kernel the model was checked against: Linux 6.18).
const DefaultHZ = 250

// Timer-wheel shape, from kernel/time/timer.c: each level has 64 buckets
// and is 8 times coarser than the one below.
const (
	lvlClkShift = 3
	lvlSize     = 64
	lvlDepth    = 9
)

// jiffy is one tick at hz.
func jiffy(hz int) time.Duration { return time.Second / time.Duration(hz) }

// toJiffies rounds d up to whole jiffies, as msecs_to_jiffies does.
func toJiffies(d time.Duration, hz int) int64 {
	j := jiffy(hz)
	return int64((d + j - 1) / j)
}

// Granularity is how late, at most, a timer armed delay ahead fires: the
// granularity of the timer-wheel level that holds it (kernel/time/timer.c
// calc_wheel_index and calc_index, which round the expiry up to the next
// multiple of the level's granularity so a timer never fires early).
// At HZ=250: 1 jiffy (4 ms) below 252 ms, 32 ms below 2.016 s, 256 ms below
// 16.128 s, 2.048 s below 129 s, 16.4 s below 1032 s, 131 s below 8256 s.
func Granularity(delay time.Duration, hz int) time.Duration {
	if hz <= 0 {
		hz = DefaultHZ
	}
	d := toJiffies(delay, hz)
	lvl := 0
	for lvl < lvlDepth-1 && d >= int64(lvlSize-1)<<(lvl*lvlClkShift) {
		lvl++
	}
	return time.Duration(int64(1)<<(lvl*lvlClkShift)) * jiffy(hz)
}
