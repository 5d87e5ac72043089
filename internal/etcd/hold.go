package etcd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/reconfig/reconfig/internal/hint"
)

// HoldEventKind is what happened to a held key.
type HoldEventKind int

const (
	// HoldSet: the key is set on a new lease, kept alive from now on.
	HoldSet HoldEventKind = iota
	// HoldLost: the lease can no longer be renewed (etcd did not answer
	// within the TTL, or the lease expired or was revoked): the key is, or
	// soon will be, gone. Hold re-creates it.
	HoldLost
	// HoldRetry: setting the key again failed (Err); Hold tries again
	// after Wait. Lease is 0 when the key was never held: its first set
	// went unanswered.
	HoldRetry
	// HoldRecreated: the key is set again on a new lease, Down after the
	// lease was lost.
	HoldRecreated
	// HoldReleased: the lease was revoked as Hold ended, and the key with
	// it.
	HoldReleased
	// HoldDeleted: someone else deleted the key while its lease lived;
	// Hold sets it again on the same lease (Revision).
	HoldDeleted
	// HoldReplaced: someone else set the key to another value, off the
	// lease (Revision is theirs). Hold leaves it: setting it back would
	// make two holders of one key overwrite each other for good.
	HoldReplaced
)

// HoldEvent is one change in the life of a held key, for the log.
type HoldEvent struct {
	Kind     HoldEventKind
	Key      string
	TTL      time.Duration
	Lease    Lease
	Revision int64         // HoldSet, HoldRecreated
	Err      error         // HoldRetry
	Wait     time.Duration // HoldRetry
	Down     time.Duration // HoldRecreated
}

// holdRetryMin and holdRetryMax are the shortest and the longest pause
// between attempts to set a key again.
const (
	holdRetryMin = 500 * time.Millisecond
	holdRetryMax = 5 * time.Second
)

// Hold sets key to value on a lease of ttl and keeps the lease alive until
// ctx ends; then it revokes the lease, which deletes the key at once. When
// the lease is lost — etcd unreachable for longer than the TTL, a lease
// revoked or expired behind its back, an etcd restarted without its data —
// it sets the key again on a new lease, retrying until it succeeds or ctx
// ends. report is told each of these events as it happens.
//
// A refusal of the first set (a missing permission, a failed
// authentication) is returned at once, so that it is reported, not
// retried; so is ctx ending first, as no error. A first set etcd did not
// answer — it went away or lost its leader with the request in flight —
// may or may not have been applied: it is retried like a lost lease, with
// HoldRetry events of no lease, and HoldSet once the key is held. The
// error at the end is the revocation's: the key then disappears only when
// its lease expires.
func (c *Client) Hold(ctx context.Context, key, value string, ttl time.Duration, report func(HoldEvent)) error {
	pause := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	lease, rev, lost, err := c.holdOnce(ctx, key, value, ttl)
	// The lease alive tells nothing of the key itself: a watch does.
	var changed <-chan HoldEvent
	stopWatch := context.CancelFunc(func() {})
	defer func() { stopWatch() }()
	rewatch := func(rev int64) {
		stopWatch()
		var wctx context.Context
		wctx, stopWatch = context.WithCancel(ctx)
		changed = c.watchHeld(wctx, key, lease, rev)
	}
	switch {
	case err == nil:
		report(HoldEvent{Kind: HoldSet, Key: key, TTL: ttl, Lease: lease, Revision: rev})
		rewatch(rev)
	case ctx.Err() != nil:
		// Stopped before the key was set: nothing to undo.
		return nil
	case !unanswered(err):
		return err
	default:
		report(HoldEvent{Kind: HoldRetry, Key: key, TTL: ttl, Err: err, Wait: holdRetryMin})
		if !pause(holdRetryMin) {
			return nil
		}
		// No lease yet: set the key as after a lost one.
		never := make(chan struct{})
		close(never)
		lost = never
	}
	setAt, wait := time.Now(), time.Duration(0)
	for {
		select {
		case <-ctx.Done():
		case <-lost:
		case e, open := <-changed:
			if !open {
				changed = nil
				continue
			}
			e.Key, e.TTL, e.Lease = key, ttl, lease
			report(e)
			if e.Kind == HoldReplaced {
				continue
			}
			rev, err := c.PutOnLease(ctx, key, value, lease)
			if err == nil {
				rewatch(rev)
				report(HoldEvent{Kind: HoldRecreated, Key: key, TTL: ttl, Lease: lease, Revision: rev})
				continue
			}
			if ctx.Err() == nil {
				report(HoldEvent{Kind: HoldRetry, Key: key, TTL: ttl, Lease: lease, Err: err, Wait: 0})
			}
			// Set again on a new lease, as after a lost one.
		}
		if ctx.Err() != nil {
			return c.release(key, ttl, lease, report)
		}
		if lease != 0 {
			report(HoldEvent{Kind: HoldLost, Key: key, TTL: ttl, Lease: lease})
		}
		since := time.Now()
		if time.Since(setAt) >= ttl {
			wait = 0
		} else if wait > 0 && !pause(wait) {
			// Leases lost one after the other: pause, not a busy loop.
			return c.release(key, ttl, lease, report)
		}
		for {
			wait = min(max(2*wait, holdRetryMin), holdRetryMax)
			// After a long outage gRPC waits up to two minutes between
			// connection attempts: try now, so that the key is back as
			// soon as etcd is.
			c.cli.ActiveConnection().ResetConnectBackoff()
			l, rev, ls, err := c.holdOnce(ctx, key, value, ttl)
			if err == nil {
				kind := HoldRecreated
				if lease == 0 {
					kind = HoldSet
				} else {
					// The old lease, should it live on, holds nothing now.
					c.revokeQuietly(lease)
				}
				lease, lost, setAt = l, ls, time.Now()
				rewatch(rev)
				report(HoldEvent{Kind: kind, Key: key, TTL: ttl, Lease: lease, Revision: rev, Down: time.Since(since)})
				break
			}
			if ctx.Err() != nil {
				return c.release(key, ttl, lease, report)
			}
			report(HoldEvent{Kind: HoldRetry, Key: key, TTL: ttl, Lease: lease, Err: err, Wait: wait})
			if !pause(wait) {
				return c.release(key, ttl, lease, report)
			}
		}
	}
}

// holdOnce grants a lease, sets key on it and starts renewing it until ctx
// ends; lost is closed when the lease can no longer be renewed.
func (c *Client) holdOnce(ctx context.Context, key, value string, ttl time.Duration) (l Lease, rev int64, lost <-chan struct{}, err error) {
	l, err = c.GrantLease(ctx, ttl)
	if err != nil {
		return 0, 0, nil, err
	}
	if rev, err = c.PutOnLease(ctx, key, value, l); err == nil {
		lost, err = c.KeepAlive(ctx, l)
	}
	if err != nil {
		c.revokeQuietly(l)
		return 0, 0, nil, err
	}
	return l, rev, lost, nil
}

// watchHeld watches key after revision from, while it is held on lease l,
// and tells each deletion, and each value set off the lease, until ctx
// ends. A watch that fails (etcd gone, the revision compacted) tells
// nothing more and closes: the lease's keepalive notices a lost etcd.
func (c *Client) watchHeld(ctx context.Context, key string, l Lease, from int64) <-chan HoldEvent {
	out := make(chan HoldEvent)
	go func() {
		defer close(out)
		for resp := range c.cli.Watch(clientv3.WithRequireLeader(ctx), key, clientv3.WithRev(from+1)) {
			if resp.Err() != nil {
				return
			}
			for _, ev := range resp.Events {
				e := HoldEvent{Kind: HoldDeleted, Revision: ev.Kv.ModRevision}
				switch {
				case ev.Type == clientv3.EventTypeDelete:
				case Lease(ev.Kv.Lease) != l:
					e.Kind = HoldReplaced
				default:
					continue
				}
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
				if e.Kind == HoldDeleted {
					// Hold sets the key again and watches anew.
					return
				}
			}
		}
	}()
	return out
}

// release revokes the lease as Hold ends. A lease etcd no longer has is
// released already: it expired, and the key with it.
func (c *Client) release(key string, ttl time.Duration, l Lease, report func(HoldEvent)) error {
	if l == 0 {
		// Never held: no lease of its own to revoke.
		return nil
	}
	err := c.RevokeLease(context.Background(), l)
	if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return hint.Wrap(fmt.Errorf("delete %s: %w", key, err),
			fmt.Sprintf("%s disappears when its lease expires, within %s", key, ttl))
	}
	report(HoldEvent{Kind: HoldReleased, Key: key, TTL: ttl, Lease: l})
	return nil
}

// revokeQuietly revokes a lease that no longer matters, if etcd answers.
func (c *Client) revokeQuietly(l Lease) {
	c.RevokeLease(context.Background(), l)
}

// unanswered reports whether err says that etcd did not answer — it was
// unreachable, lost its leader or ran out of time — rather than that it
// refused: the request may or may not have been applied, and etcd may
// answer a retry.
func unanswered(err error) bool {
	for _, e := range []error{context.DeadlineExceeded, rpctypes.ErrNoLeader, rpctypes.ErrLeaderChanged,
		rpctypes.ErrTimeout, rpctypes.ErrTimeoutDueToLeaderFail, rpctypes.ErrTimeoutDueToConnectionLost} {
		if errors.Is(err, e) {
			return true
		}
	}
	code := status.Code(err)
	return code == codes.Unavailable || code == codes.DeadlineExceeded
}
