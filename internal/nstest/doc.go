// Package nstest runs a test inside private pid, mount and network
// namespaces, for tests that enumerate namespaces or write sysctls in all of
// them: there, /proc shows only the test's own processes, /run and
// /run/netns are fresh tmpfs mounts, and the test's "host" network namespace
// is a scratch one, so nothing of the real host can be seen or written.
package nstest
