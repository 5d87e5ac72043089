package render

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// ErrTimeout is wrapped by the error of a render that did not finish within
// its binding's render_timeout.
var ErrTimeout = errors.New("rendering did not finish within render_timeout")

// errStopped is what the stop check, the key functions and the output
// writer return once a render is stopped (by its time limit or its
// context). Execute turns it into a timeout or cancellation error.
var errStopped = errors.New("rendering stopped")

// maxElems bounds the length of a list a function returns: seq, split,
// json, jsonArray. A million entries is far more than any config file
// lists, and 16 MiB of string headers at most.
const maxElems = 1 << 20

// baseBudget is the least a render's functions may produce in all, in
// bytes. Every byte of a target can be made by a few nested calls (printf
// of replace of getv: three copies), so eight times the largest target
// leaves a wide margin for honest templates, while a loop that rebuilds a
// big string again and again stops after a quarter of a GiB instead of
// churning gigabytes until render_timeout. A render also gets twice the
// size of the data it reads (see budgetFor).
const baseBudget = 8 * MaxOutput

// budgetFor is the function budget of a render over s: baseBudget plus
// twice the bytes of its keys and values, so that a template may
// transform every value it reads a couple of times, however much it
// reads.
func budgetFor(s *store) int64 {
	return baseBudget + 2*s.size
}

// limitError is a function call refused because of what it would
// return: more than MaxOutput bytes, more than maxElems entries, or more
// than the render's budget. It never quotes a value.
type limitError struct {
	msg string
}

func (e *limitError) Error() string { return e.msg }

// run is the state of one render: the keys the functions see, the stop
// flag that the timer and the context set, and what is left of the
// function budget. One render executes on one goroutine; only stopped
// is touched from another.
type run struct {
	store   *store
	stopped atomic.Bool
	budget  int64 // the whole budget, for messages
	left    int64 // bytes functions may still produce
}

func newRun(s *store) *run {
	b := budgetFor(s)
	return &run{store: s, budget: b, left: b}
}

// reset makes r the state of a new render over s.
func (r *run) reset(s *store) {
	b := budgetFor(s)
	r.store, r.budget, r.left = s, b, b
	r.stopped.Store(false)
}

// stop makes the render stop at its next check.
func (r *run) stop() { r.stopped.Store(true) }

// check returns errStopped once the render is stopped.
func (r *run) check() error {
	if r.stopped.Load() {
		return errStopped
	}
	return nil
}

// stopSignal is what stopped returns once the render is stopped.
type stopSignal struct{}

var stopping = &stopSignal{}

// stopped is the condition of the check that instrument inserts at the
// start of every template body and every range iteration: nil (false)
// until the render is stopped. A pointer result costs no allocation.
func (r *run) stoppedCheck() *stopSignal {
	if r.stopped.Load() {
		return stopping
	}
	return nil
}

// stopCheck is what the inserted check calls once stoppedCheck is true.
func (r *run) stopCheck() (string, error) {
	return "", errStopped
}

// produce accounts for a call of fn that returns a string of n bytes,
// before it builds it: more than MaxOutput bytes, or more than the budget
// left, is refused.
func (r *run) produce(fn string, n int64) error {
	if r.stopped.Load() {
		return errStopped
	}
	if n > MaxOutput {
		return &limitError{msg: fmt.Sprintf("a call to %s would return more than %d MiB", fn, MaxOutput>>20)}
	}
	return r.spend(fn, n)
}

// produceList accounts for a call of fn that returns a new list of n
// entries of about size bytes each: more than maxElems entries, or more
// than the budget left, is refused.
func (r *run) produceList(fn string, n, size int64) error {
	if r.stopped.Load() {
		return errStopped
	}
	if n > maxElems {
		return &limitError{msg: fmt.Sprintf("a call to %s would return more than %d entries", fn, maxElems)}
	}
	return r.spend(fn, n*size)
}

// spend takes n bytes from the budget of the render.
func (r *run) spend(fn string, n int64) error {
	if r.stopped.Load() {
		return errStopped
	}
	if n > r.left {
		return &limitError{msg: fmt.Sprintf(
			"a call to %s would take this render past %d MiB of function results, the budget of a render (is a loop rebuilding a big string?)",
			fn, r.budget>>20)}
	}
	r.left -= n
	return nil
}
