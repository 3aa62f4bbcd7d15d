// Package testkit holds what the tests of several packages share: a
// buffer two goroutines may write and read, the one skip for tests that
// need root, and the one way to wait for a condition with a deadline.
// Only tests import it.
package testkit
