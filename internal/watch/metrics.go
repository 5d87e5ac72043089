package watch

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the daemon's Prometheus metrics and its health: what is true
// now, updated as it happens, never what was true at start.
type Metrics struct {
	Registry *prometheus.Registry

	applies       *prometheus.CounterVec
	failures      *prometheus.CounterVec
	skipped       *prometheus.CounterVec
	events        prometheus.Counter
	cycles        prometheus.Counter
	lastRev       prometheus.Gauge
	lastSuccess   prometheus.Gauge
	connected     prometheus.Gauge
	rangesFailing prometheus.Gauge
	statusWrites  prometheus.Counter
	renderDur     prometheus.Histogram
	applyDur      prometheus.Histogram

	mu sync.Mutex
	// up is true while the daemon has a snapshot, a live watch stream and
	// a ready connection; down says why not.
	up   bool
	down string
	// ranges maps each key range that cannot be watched to why (an error
	// that names the range).
	ranges map[string]string
	// blocked says why cycles cannot run (state unusable, lock held).
	blocked string
	cycled  bool
	// failing lists the bindings whose last try failed (each tried again
	// on its own schedule); unsaved says why the last cycle could not
	// record the state.
	failing []string
	unsaved string
	// held is the fleet's hold in force; duplicate says which other
	// daemons claim this one's fleet name.
	held      string
	duplicate string
	// follow says why a follower cannot apply its gate (a compacted
	// revision).
	follow string
	// report says why the fleet status cannot be written.
	report string
}

// NewMetrics registers the daemon's metrics in a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry(), down: "not connected to etcd yet", ranges: map[string]string{}}
	m.applies = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reconfig_target_writes_total",
		Help: "Targets written, by action (create, update, delete)."}, []string{"action"})
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reconfig_binding_failures_total",
		Help: "Bindings that failed in a cycle, by stage (render, check, reload, write)."}, []string{"stage"})
	m.skipped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reconfig_bindings_skipped_total",
		Help: "Bindings skipped for missing data, by reason (missing_key, empty_prefix, empty_output, sensitive_omitted)."}, []string{"reason"})
	m.events = prometheus.NewCounter(prometheus.CounterOpts{Name: "reconfig_watch_events_total", Help: "etcd watch events received."})
	m.cycles = prometheus.NewCounter(prometheus.CounterOpts{Name: "reconfig_cycles_total", Help: "Plan/apply cycles run."})
	m.lastRev = prometheus.NewGauge(prometheus.GaugeOpts{Name: "reconfig_last_applied_revision", Help: "The etcd revision of the last cycle."})
	m.lastSuccess = prometheus.NewGauge(prometheus.GaugeOpts{Name: "reconfig_last_success_timestamp_seconds", Help: "When the last cycle without failures ended."})
	m.connected = prometheus.NewGauge(prometheus.GaugeOpts{Name: "reconfig_etcd_connected",
		Help: "1 while the daemon has a live snapshot, watch stream and connection to etcd."})
	m.rangesFailing = prometheus.NewGauge(prometheus.GaugeOpts{Name: "reconfig_watch_ranges_failing",
		Help: "Key ranges the bindings read that cannot be watched (their changes wait for the next snapshot)."})
	m.statusWrites = prometheus.NewCounter(prometheus.CounterOpts{Name: "reconfig_fleet_status_writes_total",
		Help: "Fleet status reports written to etcd (watch --fleet)."})
	m.renderDur = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "reconfig_render_duration_seconds",
		Help: "Time to plan a cycle (render and compare).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)})
	m.applyDur = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "reconfig_apply_duration_seconds",
		Help: "Time to apply a cycle (write, check, reload, record).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)})
	m.Registry.MustRegister(m.applies, m.failures, m.skipped, m.events, m.cycles, m.lastRev, m.lastSuccess,
		m.connected, m.rangesFailing, m.statusWrites, m.renderDur, m.applyDur, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// setConnected records whether the daemon is connected and following
// etcd; why says what is wrong when it is not.
func (m *Metrics) setConnected(up bool, why string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.up, m.down = up, why
	m.mu.Unlock()
	if up {
		m.connected.Set(1)
	} else {
		m.connected.Set(0)
	}
}

// setRanges records the key ranges that cannot be watched, and why.
func (m *Metrics) setRanges(failing map[string]string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.ranges = maps.Clone(failing) // the daemon's own map goes on changing
	m.mu.Unlock()
	m.rangesFailing.Set(float64(len(failing)))
}

// setBlocked records why cycles cannot run ("" when they can).
func (m *Metrics) setBlocked(why string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.blocked = why
	m.mu.Unlock()
}

func (m *Metrics) received(n int) {
	if m != nil {
		m.events.Add(float64(n))
	}
}

// setHeld records the fleet's hold in force ("" when none): a held
// daemon runs no cycle, and that is no failure.
func (m *Metrics) setHeld(reason string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.held = reason
	m.mu.Unlock()
}

// setFollow records why a follower cannot apply its gate ("" when it can).
func (m *Metrics) setFollow(why string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.follow = why
	m.mu.Unlock()
}

// setReport records why the fleet status cannot be written ("" when the
// last write succeeded).
func (m *Metrics) setReport(why string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.report = why
	m.mu.Unlock()
}

// setDuplicate records that other daemons claim this one's fleet name
// ("" when none do).
func (m *Metrics) setDuplicate(why string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.duplicate = why
	m.mu.Unlock()
}

func (m *Metrics) statusWritten() {
	if m != nil {
		m.statusWrites.Inc()
	}
}

// setFailing records the bindings whose last try failed.
func (m *Metrics) setFailing(ids []string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.failing = ids
	m.mu.Unlock()
}

// cycleDone records a cycle: ok when nothing failed; unsaved is why the
// state could not be recorded ("" when it was).
func (m *Metrics) cycleDone(rev int64, ok bool, unsaved string, render, apply time.Duration) {
	if m == nil {
		return
	}
	m.cycles.Inc()
	m.lastRev.Set(float64(rev))
	m.renderDur.Observe(render.Seconds())
	m.applyDur.Observe(apply.Seconds())
	if ok {
		m.lastSuccess.SetToCurrentTime()
	}
	m.mu.Lock()
	m.cycled, m.unsaved = true, unsaved
	m.mu.Unlock()
}

// Health reports whether the daemon is connected, watches every range,
// can run cycles, recorded its last one, and no binding is failing; if
// not, every reason.
func (m *Metrics) Health() (ok bool, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var why []string
	if !m.up {
		why = append(why, m.down)
	}
	for _, r := range slices.Sorted(maps.Keys(m.ranges)) {
		why = append(why, m.ranges[r])
	}
	if m.blocked != "" {
		why = append(why, m.blocked)
	}
	if !m.cycled && m.blocked == "" && m.held == "" {
		why = append(why, "no cycle has run yet")
	}
	if len(m.failing) > 0 {
		why = append(why, "bindings failing (each tried again on its own schedule): "+strings.Join(m.failing, ", "))
	}
	if m.unsaved != "" {
		why = append(why, "the last cycle could not record the state: "+m.unsaved)
	}
	if m.duplicate != "" {
		why = append(why, m.duplicate)
	}
	if m.follow != "" {
		why = append(why, m.follow)
	}
	if m.report != "" {
		why = append(why, m.report)
	}
	if len(why) > 0 {
		return false, strings.Join(why, "; ")
	}
	return true, "ok"
}
