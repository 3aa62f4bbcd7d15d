package sysctl

// Values holds all three keys of one network namespace.
type Values struct {
	Time   int `json:"time_s"`
	Intvl  int `json:"intvl_s"`
	Probes int `json:"probes"`
}

// KernelDefaults are the compiled-in values every new netns starts with.
var KernelDefaults = Values{Time: 7200, Intvl: 75, Probes: 9}

// Get returns the value of k.
func (v Values) Get(k Key) int {
	switch k {
	case Time:
		return v.Time
	case Intvl:
		return v.Intvl
	default:
		return v.Probes
	}
}

// Set stores n as the value of k.
func (v *Values) Set(k Key, n int) {
	switch k {
	case Time:
		v.Time = n
	case Intvl:
		v.Intvl = n
	default:
		v.Probes = n
	}
}

// Settings is a partial assignment: a profile may set fewer than three keys,
// and unset keys are left alone.
type Settings struct {
	set  [len(Keys)]bool
	vals Values
}

// Set marks k as set to n.
func (s *Settings) Set(k Key, n int) {
	s.set[k] = true
	s.vals.Set(k, n)
}

// Lookup returns k's value and whether it is set.
func (s Settings) Lookup(k Key) (int, bool) { return s.vals.Get(k), s.set[k] }

// Len is the number of keys set.
func (s Settings) Len() int {
	n := 0
	for _, ok := range s.set {
		if ok {
			n++
		}
	}
	return n
}

// Over returns base with every set key replaced: what the kernel holds after
// the settings are applied to base.
func (s Settings) Over(base Values) Values {
	for _, k := range Keys {
		if n, ok := s.Lookup(k); ok {
			base.Set(k, n)
		}
	}
	return base
}

// FromValues sets all three keys.
func FromValues(v Values) Settings {
	var s Settings
	for _, k := range Keys {
		s.Set(k, v.Get(k))
	}
	return s
}

// Validate checks every set key with Validate.
func (s Settings) Validate() error {
	for _, k := range Keys {
		if n, ok := s.Lookup(k); ok {
			if err := Validate(k, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// Change is one key moving from Old to New.
type Change struct {
	Key Key
	Old int
	New int
}

// Diff lists, in key order, the set keys whose value differs from cur.
func (s Settings) Diff(cur Values) []Change {
	var out []Change
	for _, k := range Keys {
		if n, ok := s.Lookup(k); ok && cur.Get(k) != n {
			out = append(out, Change{Key: k, Old: cur.Get(k), New: n})
		}
	}
	return out
}
