package view

import "fmt"

// VersionInfo is what `reconfig version` tells.
type VersionInfo struct {
	Version, Commit string
	// Go is the Go version and Platform its GOOS/GOARCH.
	Go, Platform string
	// EtcdClient is the version of the etcd client module.
	EtcdClient string
}

// Version prints the version of reconfig, Go and the etcd client.
func (v *View) Version(info VersionInfo) {
	w := v.stdout
	fmt.Fprintf(w, "reconfig %s\n", info.Version)
	fmt.Fprintf(w, "commit: %s\n", info.Commit)
	fmt.Fprintf(w, "go: %s %s\n", info.Go, info.Platform)
	fmt.Fprintf(w, "etcd client: %s\n", info.EtcdClient)
}
