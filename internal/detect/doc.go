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
//     governs. The kernel gives up at the first retransmission timer that
//     finds tcp_model_timeout(tcp_retries2) elapsed since the first
//     retransmission, where (rto_base = TCP_RTO_MIN = 200 ms, thresh =
//     ilog2(rto_max/rto_base) = 9 for rto_max 120 s)
//     budget = (2^(retries2+1) - 1)*rto_base              if retries2 <= thresh
//     budget = (2^(thresh+1) - 1)*rto_base + (retries2-thresh)*rto_max  otherwise
//     (924.6 s at the default 15). A tail loss probe goes first (after
//     about one RTO for a single segment), then the timers run at the
//     connection's RTO (at least tcp_rto_min plus the RTT, rounded up to a
//     jiffy), doubling up to rto_max, so the connection dies at the first
//     timer past first-retransmission + budget: 928.9 s with a 204 ms RTO.
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
// Idle and Data are the whole-second answers every command prints; Predict
// gives the band around them that measure checks a real kernel against.
//
// A Windows client (PuTTY's registry exports, judged by tcpka ssh --putty)
// is not this kernel: Windows holds its documented defaults, its
// keepalive timed by Idle and its retransmission by Windows.Data.
//
// Timers are never early and often late: the kernel's timer wheel files a
// timer armed d jiffies ahead in a level whose granularity is 8^n jiffies
// (level n covers 63*8^(n-1) <= d < 63*8^n) and rounds its expiry up to
// the next multiple of that granularity. Each timer is therefore late by up
// to 8/63 (12.7 %) of its own delay, and lateness adds up over the chain of
// timers. Band gives the prediction with that range.
package detect
