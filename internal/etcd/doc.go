// Package etcd is reconfig's only door to etcd: it alone imports the etcd
// client. It connects (endpoints, TLS, auth, prefix namespace), renews at
// once an auth token etcd rejects (expired or outdated), reads consistent
// snapshots — every range at one revision, batched into few round trips
// and paged like the client's mirror package — and turns the client's
// errors into messages that name the endpoint or key and say what to do.
// No gRPC status text and no client log line reaches the user.
package etcd
