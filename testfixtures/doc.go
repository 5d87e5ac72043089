// Package testfixtures holds what reconfig's tests and demo share: the
// original reconfig's example bindings and templates ported to Go
// templates (cfgtest/), the demo configuration and data (demo/), and the
// etcdtest package that starts real etcd servers for tests.
package testfixtures
