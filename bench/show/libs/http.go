//go:build !nohttp

package main

import (
	"net"
	"net/http"
)

func init() {
	uses = append(uses, func(arg string) {
		if ln, err := net.Listen("tcp", arg); err == nil {
			srv := &http.Server{Handler: http.NewServeMux()}
			srv.Serve(ln)
		}
	})
}
