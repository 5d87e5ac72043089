package testfixtures

import (
	"context"
	"sync"
)

// DoneCtx is a context that tells when code under test has asked for its
// Done channel — a render does before it starts — so a test can cancel
// work that is surely under way, without sleeping.
type DoneCtx struct {
	context.Context
	once  sync.Once
	asked chan struct{}
}

// NewDoneCtx wraps ctx.
func NewDoneCtx(ctx context.Context) *DoneCtx {
	return &DoneCtx{Context: ctx, asked: make(chan struct{})}
}

// Done is ctx's Done; the first call closes Asked.
func (c *DoneCtx) Done() <-chan struct{} {
	c.once.Do(func() { close(c.asked) })
	return c.Context.Done()
}

// Asked is closed once Done was called.
func (c *DoneCtx) Asked() <-chan struct{} { return c.asked }
