package testkit

import (
	"testing"
	"time"
)

func TestEventually(t *testing.T) {
	n := 0
	if !Eventually(time.Second, func() bool { n++; return n == 3 }) || n != 3 {
		t.Errorf("Eventually stopped after %d calls", n)
	}
	start := time.Now()
	if Eventually(100*time.Millisecond, func() bool { return false }) {
		t.Error("Eventually of a condition that never holds returned true")
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
		t.Errorf("Eventually gave up after %v, want about 100ms", d)
	}
}

func TestBuffer(t *testing.T) {
	var b Buffer
	done := make(chan bool)
	go func() { b.Write([]byte("from a goroutine\n")); done <- true }()
	<-done
	if b.String() != "from a goroutine\n" {
		t.Errorf("Buffer = %q", b.String())
	}
}
