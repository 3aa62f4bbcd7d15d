//go:build !noyaml

package main

import "gopkg.in/yaml.v3"

func init() {
	uses = append(uses, func(arg string) {
		var doc yaml.Node
		yaml.Unmarshal([]byte(arg), &doc)
	})
}
