package enforce

// ExplainBPF wraps an error of bpf(2) or of cilium/ebpf for what was being
// done: EPERM and EACCES become ErrPermission with what it takes, anything
// else keeps its own words. Other packages that load BPF programs
// (internal/rearm) use it so that one sentinel means "no BPF permission"
// everywhere.
func ExplainBPF(what string, err error) error { return explainBPF(what, err) }
