package watch

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the daemon's Prometheus metrics and health.
type Metrics struct {
	Registry *prometheus.Registry

	applies     *prometheus.CounterVec
	failures    *prometheus.CounterVec
	skipped     *prometheus.CounterVec
	events      prometheus.Counter
	cycles      prometheus.Counter
	lastRev     prometheus.Gauge
	lastSuccess prometheus.Gauge
	connected   prometheus.Gauge
	renderDur   prometheus.Histogram
	applyDur    prometheus.Histogram

	mu        sync.Mutex
	isUp      bool
	lastOK    bool
	lastError string
	cycled    bool
}

// NewMetrics registers the daemon's metrics in a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.applies = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reconfig_target_writes_total",
		Help: "Targets written, by action (create, update, delete)."}, []string{"action"})
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reconfig_binding_failures_total",
		Help: "Bindings that failed in a cycle, by stage (render, check, reload, write)."}, []string{"stage"})
	m.skipped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reconfig_bindings_skipped_total",
		Help: "Bindings skipped for missing data, by reason (missing_key, empty_prefix)."}, []string{"reason"})
	m.events = prometheus.NewCounter(prometheus.CounterOpts{Name: "reconfig_watch_events_total", Help: "etcd watch events received."})
	m.cycles = prometheus.NewCounter(prometheus.CounterOpts{Name: "reconfig_cycles_total", Help: "Plan/apply cycles run."})
	m.lastRev = prometheus.NewGauge(prometheus.GaugeOpts{Name: "reconfig_last_applied_revision", Help: "The etcd revision of the last cycle."})
	m.lastSuccess = prometheus.NewGauge(prometheus.GaugeOpts{Name: "reconfig_last_success_timestamp_seconds", Help: "When the last cycle without failures ended."})
	m.connected = prometheus.NewGauge(prometheus.GaugeOpts{Name: "reconfig_etcd_connected", Help: "1 while the daemon has a live snapshot and watch."})
	m.renderDur = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "reconfig_render_duration_seconds",
		Help: "Time to plan a cycle (render and compare).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)})
	m.applyDur = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "reconfig_apply_duration_seconds",
		Help: "Time to apply a cycle (write, check, reload, record).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)})
	m.Registry.MustRegister(m.applies, m.failures, m.skipped, m.events, m.cycles, m.lastRev, m.lastSuccess,
		m.connected, m.renderDur, m.applyDur, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) setConnected(up bool) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.isUp = up
	m.mu.Unlock()
	if up {
		m.connected.Set(1)
	} else {
		m.connected.Set(0)
	}
}

func (m *Metrics) cycleDone(rev int64, ok bool, errMsg string, render, apply time.Duration) {
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
	m.cycled, m.lastOK, m.lastError = true, ok, errMsg
	m.mu.Unlock()
}

// Health reports whether the daemon is connected and its last cycle
// succeeded, and if not, why.
func (m *Metrics) Health() (ok bool, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case !m.isUp:
		return false, "not connected to etcd"
	case !m.cycled:
		return false, "no cycle has run yet"
	case !m.lastOK:
		return false, "the last cycle had failures: " + m.lastError
	}
	return true, "ok"
}
