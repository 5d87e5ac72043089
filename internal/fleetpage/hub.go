package fleetpage

import (
	"errors"
	"sync"
)

// errTooMany refuses an event stream beyond MaxClients.
var errTooMany = errors.New("too many open event streams")

// errClosed refuses an event stream once the page is shutting down.
var errClosed = errors.New("the page is shutting down")

// hub hands every open event stream the frames of each new view: a full
// frame when it opens, then deltas from the view it last got. A stream
// that does not keep up (its queue full) is closed; the browser opens it
// again and starts from a full frame.
type hub struct {
	max int

	mu      sync.Mutex
	cur     rendering
	shown   bool
	history []Sample
	subs    map[*sub]struct{}
	closed  bool
}

// sub is one open event stream.
type sub struct {
	frames chan []byte // closed when the hub drops the stream
}

// subQueue is how many frames a stream may fall behind.
const subQueue = 16

func newHub(max int) *hub { return &hub{max: max, subs: map[*sub]struct{}{}} }

// subscribe opens a stream, its first frame (when there is a view yet)
// already queued.
func (h *hub) subscribe() (*sub, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errClosed
	}
	if len(h.subs) >= h.max {
		return nil, errTooMany
	}
	s := &sub{frames: make(chan []byte, subQueue)}
	if h.shown {
		data, err := h.cur.full(h.history)
		if err != nil {
			return nil, err
		}
		s.frames <- data
	}
	h.subs[s] = struct{}{}
	return s, nil
}

// unsubscribe closes a stream's queue (when the hub has not already).
func (h *hub) unsubscribe(s *sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.frames)
	}
}

// show makes v the current view and sends each stream what changed;
// fresh says the history gained a sample.
func (h *hub) show(v rendering, history []Sample, fresh bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.history = history
	var send []Sample
	if fresh || !h.shown {
		send = history
	}
	var data []byte
	var err error
	if h.shown {
		data, err = v.delta(h.cur, send)
	} else {
		data, err = v.full(history)
	}
	if err != nil {
		return err
	}
	h.cur, h.shown = v, true
	if data == nil {
		return nil
	}
	for s := range h.subs {
		select {
		case s.frames <- data:
		default:
			delete(h.subs, s)
			close(s.frames)
		}
	}
	return nil
}

// closeAll ends every stream.
func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		delete(h.subs, s)
		close(s.frames)
	}
}
