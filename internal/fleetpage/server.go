package fleetpage

import (
	"embed"
	"errors"
	"io/fs"
	"net/http"
	"time"

	"github.com/reconfig/reconfig/internal/view"
)

//go:embed assets
var assets embed.FS

// keepalive is how often an idle event stream gets a comment line, so
// that proxies and browsers do not drop it.
const keepalive = 20 * time.Second

// Handler serves the page, its assets, /api/fleet, /events and /healthz.
// Every route is read-only: anything but GET and HEAD is refused.
func (p *Page) Handler() http.Handler {
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(static)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "index.html")
	})
	mux.Handle("GET /app.js", files)
	mux.Handle("GET /app.css", files)
	mux.HandleFunc("GET /api/fleet", p.api)
	mux.HandleFunc("GET /events", p.events)
	mux.HandleFunc("GET /healthz", p.healthz)
	return secure(mux)
}

// secure adds the headers every response gets: the page loads nothing
// from elsewhere and may not be framed.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// api writes the fleet judged now, the document `fleet status --json`
// prints; 503 with the reason while the page's watch is not healthy (the
// fleet it knows may be stale).
func (p *Page) api(w http.ResponseWriter, r *http.Request) {
	h := p.Health()
	rep, ok := p.Report()
	if !ok || !h.OK {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		view.Health(w, h.Problem)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	view.FleetReportJSON(w, rep)
}

// healthz is the page's own health: 200 "ok" while its watch is
// established and etcd reachable, 503 and why otherwise.
func (p *Page) healthz(w http.ResponseWriter, r *http.Request) {
	h := p.Health()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !h.OK {
		w.WriteHeader(http.StatusServiceUnavailable)
		view.Health(w, h.Problem)
		return
	}
	view.Health(w, "ok")
}

// events is the stream of frames, as server-sent events.
func (p *Page) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	s, err := p.hub.subscribe()
	if errors.Is(err, errTooMany) || errors.Is(err, errClosed) {
		w.Header().Set("Retry-After", "10")
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer p.hub.unsubscribe(s)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx: pass each event on at once
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write([]byte("retry: 2000\n\n")); err != nil {
		return
	}
	flusher.Flush()
	tick := time.NewTicker(keepalive)
	defer tick.Stop()
	for {
		var chunk []byte
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			chunk = []byte(": keepalive\n\n")
		case data, open := <-s.frames:
			if !open {
				return
			}
			chunk = make([]byte, 0, len(data)+16)
			chunk = append(append(append(chunk, "data: "...), data...), "\n\n"...)
		}
		if _, err := w.Write(chunk); err != nil {
			return
		}
		flusher.Flush()
	}
}
