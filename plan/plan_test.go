package plan_test

import (
	"context"
	"errors"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/render"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/plan"
	"github.com/reconfig/reconfig/testfixtures"
)

const runawaySrc = `{{$a := seq 1 1000000}}{{range $a}}{{range $a}}{{end}}{{end}}`

// runawayInput is a plan input of two bindings: "fast" renders its key,
// "runaway" loops for ever, with the render_timeout given.
func runawayInput(t *testing.T, timeout time.Duration) plan.Input {
	t.Helper()
	dir := t.TempDir()
	set := &bindings.Set{Dir: dir, TemplatesDir: filepath.Join(dir, "templates")}
	tmpls := map[string]*render.Template{}
	for _, s := range []struct{ id, src string }{{"fast", `value {{getv "/app/a"}}`}, {"runaway", runawaySrc}} {
		b := &bindings.Binding{ID: s.id, Key: "/app", Recursive: true, Source: s.id + ".tmpl",
			SourcePath: filepath.Join(set.TemplatesDir, s.id+".tmpl"), Target: filepath.Join(dir, s.id+".conf"),
			LeftDelim: "{{", RightDelim: "}}", CommandTimeout: time.Minute}
		if s.id == "runaway" {
			b.RenderTimeout = timeout
		}
		tm, err := render.CompileText(b, s.src)
		if err != nil {
			t.Fatal(err)
		}
		set.Bindings = append(set.Bindings, b)
		tmpls[b.ID] = tm
	}
	sort.Slice(set.Bindings, func(i, j int) bool { return set.Bindings[i].ID < set.Bindings[j].ID })
	snap := &snapshot.Snapshot{Revision: 3, Spans: snapshot.Cover(set.Selectors())}
	for i := range snap.Spans {
		if sp := &snap.Spans[i]; sp.Start <= "/app/a" && "/app/a" < sp.End {
			if err := sp.Append(snapshot.KV{Key: "/app/a", Value: "1"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	snap.Stamp()
	return plan.Input{Set: set, Templates: tmpls, Snapshot: snap}
}

// change returns the change of the binding id.
func change(t *testing.T, p *plan.Plan, id string) *plan.Change {
	t.Helper()
	for _, ch := range p.Changes {
		if ch.ID == id {
			return ch
		}
	}
	t.Fatalf("no change for %s", id)
	return nil
}

// TestRunawayTemplateFailsItsBinding plans a binding whose template never
// ends next to one that renders: the first fails at its render_timeout,
// with a reason that says so, and the other is planned as usual.
func TestRunawayTemplateFailsItsBinding(t *testing.T) {
	p := plan.Make(runawayInput(t, 100*time.Millisecond))
	if ch := change(t, p, "fast"); ch.Action != plan.Create || string(ch.After) != "value 1" {
		t.Errorf("fast: %s %q (%s); want create \"value 1\"", ch.Action, ch.After, ch.Reason)
	}
	ch := change(t, p, "runaway")
	if ch.Action != plan.Fail || !errors.Is(ch.Err, render.ErrTimeout) ||
		!strings.Contains(ch.Reason, `binding "runaway": template `) || !strings.Contains(ch.Reason, "did not finish within 100ms (render_timeout)") {
		t.Errorf("runaway: %s, %v; want a failure at its render_timeout", ch.Action, ch.Err)
	}
}

// TestCancelStopsRender cancels a render while a template with an hour's
// render_timeout loops: Render returns, and that binding fails with the
// cancellation.
func TestCancelStopsRender(t *testing.T) {
	in := runawayInput(t, time.Hour)
	delete(in.Templates, "fast") // it would fail too, when cancelled first
	in.Set, _ = in.Set.Select([]string{"runaway"})
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx := testfixtures.NewDoneCtx(parent)
	done := make(chan map[string]*plan.Change, 1)
	go func() { done <- plan.Render(ctx, in.Set, in.Templates, in.Snapshot) }()
	select {
	case <-ctx.Asked():
	case <-done:
		t.Fatal("Render returned without a look at its context")
	case <-time.After(time.Minute):
		t.Fatal("the render did not start")
	}
	cancel()
	select {
	case rendered := <-done:
		in.Rendered = rendered
		if ch := change(t, plan.Make(in), "runaway"); ch.Action != plan.Fail || !errors.Is(ch.Err, context.Canceled) {
			t.Errorf("runaway: %s, %v; want a failure by the cancellation", ch.Action, ch.Err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Render did not return after its context was cancelled")
	}
}
