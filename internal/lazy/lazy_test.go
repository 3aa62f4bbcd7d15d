package lazy

import (
	"sync"
	"testing"
)

func TestRegexp(t *testing.T) {
	re := Regexp{Expr: `^go-build[0-9]+$`}
	got := make(chan any, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := re.Get()
			if !r.MatchString("go-build123") || r.MatchString("go-build") {
				t.Error("wrong matches")
			}
			got <- r
		}()
	}
	wg.Wait()
	close(got)
	first := <-got
	for r := range got {
		if r != first {
			t.Error("compiled more than once")
		}
	}
}
