package fleetpage

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/fleet"
	"github.com/reconfig/reconfig/internal/snapshot"
)

// Options configure a Page.
type Options struct {
	Client *etcd.Client
	Keys   fleet.Keys
	// Group shows only the hosts of one group ("" for all).
	Group string
	// Interval is the least time between two frames (default 400 ms): a
	// burst of reports becomes one update of the page.
	Interval time.Duration
	// Settle is how long a new barrier waits for every host's answer
	// before hosts are judged against it (default 2 s, fleet status's).
	Settle time.Duration
	// SampleEvery and Samples shape the history (default 5 s × 144: the
	// last 12 minutes).
	SampleEvery time.Duration
	Samples     int
	// Silence is how long the watch may stay silent before the page asks
	// etcd for a progress notification to prove it alive (default 60 s);
	// no answer within another Silence and the page is unhealthy.
	Silence time.Duration
	// Grace is how long the connection to etcd may be down before the
	// page says so (default 3 s).
	Grace time.Duration
	// MaxClients bounds the open event streams (default 64).
	MaxClients int
	Logger     *slog.Logger
}

// Page is the fleet page: Run keeps it current, Handler serves it.
type Page struct {
	o Options

	mu      sync.Mutex
	m       *model // nil until the first read
	health  Health
	history []Sample
	// fresh is set when a sample was added since the last frame.
	fresh   bool
	recheck *time.Timer

	dirty chan struct{} // holds a token when the model changed
	hub   *hub
}

// New returns a page; nothing is read before Run.
func New(o Options) *Page {
	if o.Interval <= 0 {
		o.Interval = 400 * time.Millisecond
	}
	if o.Settle <= 0 {
		o.Settle = 2 * time.Second
	}
	if o.SampleEvery <= 0 {
		o.SampleEvery = 5 * time.Second
	}
	if o.Samples <= 0 {
		o.Samples = 144
	}
	if o.Silence <= 0 {
		o.Silence = time.Minute
	}
	if o.Grace <= 0 {
		o.Grace = 3 * time.Second
	}
	if o.MaxClients <= 0 {
		o.MaxClients = 64
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Page{o: o, health: Health{Problem: "reading the fleet from etcd"}, dirty: make(chan struct{}, 1), hub: newHub(o.MaxClients)}
}

// Health reports the page's own health: its watch of the fleet prefix.
func (p *Page) Health() Health {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.health
}

// Report returns the fleet judged now, as `fleet status --json` prints it,
// and false before the first read.
func (p *Page) Report() (*fleet.Report, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		return nil, false
	}
	return p.m.report(time.Now(), p.o.Settle), true
}

// Open reads the fleet prefix once; Run follows it from there. An error
// here (etcd refuses the read: permissions) is the caller's to report.
func (p *Page) Open(ctx context.Context) error {
	_, err := p.read(ctx)
	return err
}

// Run follows the fleet prefix on one watch from where Open read it (or
// reads it first) until ctx ends; after a broken watch (compaction, a lost
// leader, a closed stream, etcd silent) it reads again, with a growing
// delay, and says so in its health meanwhile.
func (p *Page) Run(ctx context.Context) {
	go p.publish(ctx)
	go p.sample(ctx)
	watchConnection(ctx, p.o.Client, p.o.Grace, p.setConn)
	p.mu.Lock()
	m := p.m
	p.mu.Unlock()
	var rev int64
	if m != nil {
		rev = m.readAt
	}
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		var err error
		if rev == 0 {
			rev, err = p.read(ctx)
		}
		if err == nil {
			began := time.Now()
			err = p.follow(ctx, rev)
			rev = 0
			if time.Since(began) > time.Minute {
				backoff = 500 * time.Millisecond
			}
		}
		if ctx.Err() != nil {
			return
		}
		p.setBroken(err)
		p.o.Logger.Warn("the fleet watch broke; reading the fleet again", "error", err.Error(), "in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff + rand.N(backoff/2)):
		}
		backoff = min(2*backoff, 15*time.Second)
	}
}

// read reads every key under the fleet prefix into a new model and
// returns the revision it read at.
func (p *Page) read(ctx context.Context) (int64, error) {
	keys := p.o.Keys
	entries, rev, err := p.o.Client.List(ctx, keys.All())
	if err != nil {
		return 0, err
	}
	now := time.Now()
	m := newModel(keys, p.o.Group)
	for _, e := range entries {
		m.put(e.Key, e.Value, e.ModRevision, now)
	}
	m.etcdRev, m.readAt = max(m.etcdRev, rev), rev
	p.mu.Lock()
	p.m = m
	p.health = Health{OK: true}
	p.mu.Unlock()
	p.changed()
	p.o.Logger.Debug("read the fleet", "prefix", keys.Prefix(), "revision", rev, "keys", len(entries))
	return rev, nil
}

// follow applies the watch's events after rev to the model until the
// watch breaks.
func (p *Page) follow(ctx context.Context, rev int64) error {
	keys := p.o.Keys
	p.mu.Lock()
	m := p.m
	p.mu.Unlock()
	span := snapshot.Span{Start: keys.All(), End: keys.Prefix() + "0", Rev: rev + 1}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream := p.o.Client.Watch(wctx, []snapshot.Span{span}, nil)
	defer stream.Close()
	silence := time.NewTimer(p.o.Silence)
	defer silence.Stop()
	asked := false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-silence.C:
			if asked {
				return &etcd.Error{Msg: "watch " + keys.All() + ": etcd did not answer a progress request within " + p.o.Silence.String()}
			}
			// A silent watch may be a dead one: ask etcd to prove it
			// alive (one small request per Silence of quiet).
			asked = true
			go p.o.Client.RequestProgress(stream.Context())
			silence.Reset(p.o.Silence)
			continue
		case <-stream.Ready():
		}
		batches, open := stream.Take()
		if len(batches) > 0 {
			asked = false
			silence.Reset(p.o.Silence)
		}
		now := time.Now()
		p.mu.Lock()
		for _, b := range batches {
			if b.Err != nil {
				p.mu.Unlock()
				return b.Err
			}
			for _, ev := range b.Events {
				switch {
				case ev.Revision <= rev:
				case ev.Delete:
					m.delete(ev.Key, ev.Revision)
				default:
					m.put(ev.Key, ev.Value, ev.Revision, now)
				}
			}
			m.etcdRev = max(m.etcdRev, b.Revision)
		}
		p.mu.Unlock()
		if len(batches) > 0 {
			p.changed()
		}
		if !open {
			return &etcd.Error{Msg: "watch " + keys.All() + ": the stream closed"}
		}
	}
}

// setBroken records that the watch broke with err.
func (p *Page) setBroken(err error) {
	p.mu.Lock()
	p.health = Health{Problem: "the watch of the fleet broke: " + err.Error() + "; reading the fleet again"}
	p.mu.Unlock()
	p.changed()
}

// setConn records the connection's problem ("" when it is back).
func (p *Page) setConn(problem string) {
	p.mu.Lock()
	switch {
	case problem != "":
		p.health = Health{Problem: problem}
	case p.m != nil && !p.health.OK && p.health.Problem == lostConnection:
		p.health = Health{OK: true}
	}
	p.mu.Unlock()
	p.changed()
}

// changed wakes the publisher.
func (p *Page) changed() {
	select {
	case p.dirty <- struct{}{}:
	default:
	}
}

// sample adds the fleet's summary to the history every SampleEvery.
func (p *Page) sample(ctx context.Context) {
	t := time.NewTicker(p.o.SampleEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			p.mu.Lock()
			if p.m != nil {
				rep := p.m.report(now, p.o.Settle)
				s := Sample{Time: now.Unix(), Hosts: rep.Summary.Hosts, At: rep.Summary.OK, Failed: rep.Summary.Failed, Held: rep.Summary.Held}
				p.history = append(p.history, s)
				if len(p.history) > p.o.Samples {
					p.history = slices.Delete(p.history, 0, len(p.history)-p.o.Samples)
				}
				p.fresh = true
			}
			p.mu.Unlock()
			p.changed()
		}
	}
}

// publish sends a frame to every open event stream after each change, at
// most one per Interval.
func (p *Page) publish(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			p.hub.closeAll()
			return
		case <-p.dirty:
		}
		p.frame(time.Now())
		select {
		case <-ctx.Done():
		case <-time.After(p.o.Interval):
		}
	}
}

// frame renders the model and hands the hub its view.
func (p *Page) frame(now time.Time) {
	p.mu.Lock()
	if p.m == nil {
		p.mu.Unlock()
		return
	}
	v, err := p.m.render(now, p.o.Settle, p.health)
	if _, _, recheck := p.m.judgedRevision(now, p.o.Settle); !recheck.IsZero() {
		// A barrier not yet settled: look again when it must be.
		if p.recheck != nil {
			p.recheck.Stop()
		}
		p.recheck = time.AfterFunc(recheck.Sub(now), p.changed)
	}
	history := slices.Clone(p.history)
	fresh := p.fresh
	p.fresh = false
	p.mu.Unlock()
	if err != nil {
		p.o.Logger.Error("rendering the fleet page", "error", err.Error())
		return
	}
	if err := p.hub.show(v, history, fresh); err != nil {
		p.o.Logger.Error("rendering the fleet page", "error", err.Error())
	}
}
