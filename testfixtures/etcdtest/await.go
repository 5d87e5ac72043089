package etcdtest

import (
	"context"
	"time"

	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/fleet"
	"github.com/reconfig/reconfig/internal/snapshot"
)

// AwaitKey follows key on a watch until ok accepts its value (exists is
// false while the key is absent), and returns that value; it fails the
// test after timeout, naming what it waited for and the last value seen.
func AwaitKey(t TB, c *etcd.Client, key, what string, timeout time.Duration, ok func(value string, exists bool) bool) string {
	t.Helper()
	entries, rev, err := c.List(context.Background(), key)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	value, exists := "", false
	for _, e := range entries {
		if e.Key == key {
			value, exists = e.Value, true
		}
	}
	if ok(value, exists) {
		return value
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s := c.Watch(ctx, []snapshot.Span{{Start: key, End: key + "\x00", Rev: rev}}, nil)
	defer s.Close()
	for b := range s.All() {
		if b.Err != nil {
			t.Fatalf("watch %s: %v", key, b.Err)
		}
		for _, ev := range b.Events {
			value, exists = ev.Value, !ev.Delete
			if ok(value, exists) {
				return value
			}
		}
	}
	t.Fatalf("timed out after %s waiting for %s (%s); last value %q (exists: %v)", timeout, key, what, value, exists)
	return ""
}

// AwaitStatus follows host name's fleet status under keys until ok
// accepts it (nil: the host has no status), and returns it.
func AwaitStatus(t TB, c *etcd.Client, keys fleet.Keys, name, what string, timeout time.Duration, ok func(*fleet.Status) bool) *fleet.Status {
	t.Helper()
	var cur *fleet.Status
	AwaitKey(t, c, keys.Host(name), what, timeout, func(v string, exists bool) bool {
		cur = nil
		if exists {
			s, err := fleet.DecodeStatus([]byte(v))
			if err != nil {
				t.Fatalf("status of %s: %v in %s", name, err, v)
			}
			cur = s
		}
		return ok(cur)
	})
	return cur
}
