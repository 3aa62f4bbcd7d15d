package testkit

import (
	"os"
	"testing"
	"time"
)

// NeedRoot skips the test, saying why it needs root, when it does not
// run as root. CI runs as root, where such tests run.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: " + why)
	}
}

// Poll is how often Eventually looks.
const Poll = 20 * time.Millisecond

// Eventually calls cond every Poll until it returns true or limit has
// passed, and says whether it did: the one way a test waits for a
// process, a log line or a kernel value, never a bare sleep.
func Eventually(limit time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(limit); ; time.Sleep(Poll) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// Slow skips the test under `go test -short`, saying what makes it slow:
// scratch namespaces, a real sshd or systemd, a measurement of the
// kernel's timers, a build. -short is the quick run of the logic alone;
// CI runs everything.
func Slow(t testing.TB, why string) {
	t.Helper()
	if testing.Short() {
		t.Skip("slow, skipped with -short: " + why)
	}
}
