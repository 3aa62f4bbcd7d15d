module github.com/tcpka/tcpka

go 1.26.8

require (
	github.com/cilium/ebpf v0.22.0
	github.com/rogpeppe/go-internal v1.16.0
	github.com/spf13/pflag v1.1.0
	golang.org/x/sys v0.50.0
	gopkg.in/yaml.v3 v3.0.1
)

require golang.org/x/tools v0.40.1-0.20260108161641-ca281cf95054 // indirect
