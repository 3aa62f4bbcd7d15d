package detect

// WithUserTimeout is the detection time, in whole seconds, of an idle
// connection whose socket also set TCP_USER_TIMEOUT to ms milliseconds.
// The keepalive timer fires at Time, Time+Intvl, Time+2*Intvl, ...; at a
// fire where a probe is already out and the connection has been silent for
// at least the user timeout, the kernel resets it, whatever Probes says
// (net/ipv4/tcp_timer.c, tcp_keepalive_timer). So the answer is the first
// Time+k*Intvl, k >= 1, that reaches ms; it can be longer than IdleSeconds.
// ms <= 0 (not set) gives IdleSeconds.
func (k Keepalive) WithUserTimeout(ms int) int {
	if ms <= 0 {
		return k.IdleSeconds()
	}
	t := k.Time + k.Intvl // first fire with a probe out
	if t*1000 >= ms || k.Intvl <= 0 {
		return t
	}
	step := k.Intvl * 1000
	n := (ms - k.Time*1000 + step - 1) / step
	return k.Time + n*k.Intvl
}
