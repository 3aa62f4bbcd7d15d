// Package plan turns a network path into keepalive values. It owns the
// table of middlebox idle timeouts (each with the vendor page that states
// it) and the solver: given the smallest idle timeout on the path and,
// optionally, a bound on the dead-peer detection time, it picks time,
// interval and probes, or refuses the ask with the reason it cannot be met.
//
// The idle time keeps profile.Margin below the idle timeout for timer
// lateness, and detection times come from internal/detect, so a plan that
// is written as a profile passes the profile decoder's own checks.
package plan
