// Package lazy holds values that tcpka builds on first use instead of at
// start-up. Every command, `tcpka show` included, runs the package-level
// initialization of every package the binary links: a regexp compiled
// there costs every start, and even an init function that only sets up a
// sync.OnceValue touches its page of code. A lazy value declared as a
// composite literal of constants is laid out by the compiler, so its
// package needs no init code at all.
package lazy
