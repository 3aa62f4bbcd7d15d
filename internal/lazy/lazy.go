package lazy

import (
	"regexp"
	"sync"
)

// Regexp is a regular expression compiled on first use. Declare it as a
// literal, var re = lazy.Regexp{Expr: `...`}, and use re.Get().
type Regexp struct {
	Expr string
	once sync.Once
	re   *regexp.Regexp
}

// Get compiles the expression the first time (regexp.MustCompile: a bad
// expression is a programming error) and returns it.
func (r *Regexp) Get() *regexp.Regexp {
	r.once.Do(func() { r.re = regexp.MustCompile(r.Expr) })
	return r.re
}
