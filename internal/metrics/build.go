package metrics

import (
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// Info says which build of tcpka reports (tcpka_build_info).
type Info struct {
	Version, Revision, GoVersion string
}

// NewSnapshot is the one snapshot builder, for `tcpka metrics` and
// watch's /metrics alike: the samples (one namespace's, or every
// namespace's), the profile every sample is compared with (the
// installed one, or the one watch keeps; nil: none installed), the build
// that reports, and watch's counters (nil outside watch). Two scrapes of
// the same kernel differ only in watch's own series.
func NewSnapshot(info Info, samples []Sample, compared *profile.Profile, w *Watch) Snapshot {
	s := Snapshot{Samples: samples, Version: info.Version, Revision: info.Revision, GoVersion: info.GoVersion, Watch: w}
	if compared != nil {
		s.Installed = &Installed{Name: compared.Name}
		for i := range s.Samples {
			s.Samples[i].Drifted = len(sysctl.Drift(compared.Settings, s.Samples[i].Values))
		}
	}
	return s
}
