// Package detect is tcpka's one model of how long a dead peer goes
// unnoticed. Every command that prints a detection time (show, profiles,
// apply, check, sockets, enforce, metrics, watch, plan, measure) gets it
// from here, so there is no second copy of the formula.
//
// The cases, as net/ipv4/tcp_timer.c decides them:
//
//   - Idle connection, peer silently gone (keepalive): the first probe goes
//     out after Time of idleness, then one every Intvl; the timer that finds
//     Probes probes unanswered resets the connection:
//     detection = Time + Intvl*Probes.
//   - Idle connection with TCP_USER_TIMEOUT U: the probe count is ignored;
//     the connection dies at the first keepalive timer that finds at least
//     one probe out and U of idleness: Time + Intvl*max(1, ceil((U-Time)/Intvl)).
//   - Unacknowledged data in flight: keepalive does nothing; retransmission
//     governs. A tail loss probe goes first (after about one RTO for a
//     single segment), then the RTO timer, doubling up to rto_max; its
//     first expiry retransmits and stamps retrans_stamp. At each later
//     expiry retransmits_timed_out compares the milliseconds since that
//     stamp with tcp_model_timeout(tcp_retries2) (rto_base = TCP_RTO_MIN =
//     200 ms, thresh = ilog2(rto_max/rto_base) = 9 for rto_max 120 s):
//     budget = (2^(retries2+1) - 1)*rto_base              if retries2 <= thresh
//     budget = (2^(thresh+1) - 1)*rto_base + (retries2-thresh)*rto_max  otherwise
//     (924.6 s at the default 15), and drops the connection at the first
//     expiry that finds it spent. Which expiry that is depends on where
//     the timer wheel files each timer: with a 204 ms RTO, tcp_retries2 3
//     and 4 end at the same one (6.6-6.9 s), 15 at 937.7-940.0 s.
//   - Data in flight with TCP_USER_TIMEOUT U: first retransmission + U (the
//     kernel clamps the retransmission timer so it fires at U).
//   - A socket with TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT uses its own
//     value for that field (keepalive.Settings.Over its namespace's
//     sysctls); without SO_KEEPALIVE an idle dead peer is never noticed.
//
// An idle connection whose peer answers has a second question: does it keep
// its flow through a NAT or load balancer that forgets silent flows?
// Answered probes come the first after Time, then every max(Time, Intvl)
// (the timer re-armed Intvl after a probe finds the answer already Time
// old); IdleFlow bounds the longest silence with the timers' lateness.
//
// Idle is the configured figure, time + intvl*probes, that show and
// profiles print; Data the kernel's nominal time with data in flight.
// Predict gives the band the kernel really acts in (what measure checks),
// AnyHZ and Worst the band on a kernel of any common tick rate, which a
// promise for other machines (plan) must hold to.
//
// A live socket has a history: Live takes what sock_diag and tcp_info
// show of it (its armed timer, probes and retransmissions out, backoff,
// RTO, last packets received) and Fate replays its armed timer's handler
// from there. A keepalive timer keeps the values it was armed with until
// it fires (Stale), a dying socket is dropped when its handler's rule says
// (Dying).
//
// A Windows client (PuTTY's registry exports, judged by tcpka ssh --putty)
// is not this kernel: Windows holds its documented defaults, its
// keepalive timed by Idle and its retransmission by Windows.Data.
//
// Timers are never early and often late: the kernel's timer wheel files a
// timer armed d jiffies ahead in a level whose granularity is 8^n jiffies
// (level n covers 63*8^(n-1) <= d < 63*8^n) and in the bucket after its
// expiry, at the next multiple of that granularity. A timer armed at an
// arbitrary moment fires 1 jiffy to one granularity late (up to 8/63,
// 12.7 %, of its delay); one re-armed by a timer that itself fired on a
// boundary of its level is late by the same amount every time: a 17 s
// probe interval at HZ=250 (4250 jiffies) fires after 4608. The
// simulations follow both (sim.go).
package detect
