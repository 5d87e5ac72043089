package render_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/reconfig/reconfig/internal/render"
	"github.com/reconfig/reconfig/testfixtures"
)

// TestRunawayTemplates renders templates that would run forever, or build
// values far larger than a target may be: each fails its binding with an
// error that says why, instead of hanging or exhausting memory.
func TestRunawayTemplates(t *testing.T) {
	// mib0 is a string of a million zeros, built without data.
	const mib0 = `(printf "%01000000d" 0)`
	tests := []struct {
		name    string
		src     string
		timeout time.Duration
		// wantTimeout: the error is a render.ErrTimeout; else it says want
		// at line 1.
		wantTimeout bool
		want        string
	}{
		{
			name:        "nested ranges over a million numbers",
			src:         `{{$a := seq 1 1000000}}{{range $a}}{{range $a}}{{end}}{{end}}`,
			timeout:     200 * time.Millisecond,
			wantTimeout: true,
		},
		{
			name:        "nested ranges that print",
			src:         "{{$a := seq 1 1000000}}{{range $a}}{{range $a}}{{if eq . 0}}x{{end}}{{end}}\n{{end}}",
			timeout:     200 * time.Millisecond,
			wantTimeout: true,
		},
		{
			name:        "a range over a large int",
			src:         `{{range 1000000000000}}{{end}}`,
			timeout:     200 * time.Millisecond,
			wantTimeout: true,
		},
		{
			name:        "a range with an else branch and a continue",
			src:         `{{range $i := seq 1 1000000}}{{range seq 1 1000000}}{{continue}}{{end}}{{else}}none{{end}}`,
			timeout:     200 * time.Millisecond,
			wantTimeout: true,
		},
		{
			name:        "a template that calls itself twice, with a depth guard",
			src:         `{{define "r"}}{{if lt . 50}}{{template "r" (add . 1)}}{{template "r" (add . 1)}}{{end}}{{end}}{{template "r" 0}}`,
			timeout:     200 * time.Millisecond,
			wantTimeout: true,
		},
		{
			name:        "a block that calls itself twice",
			src:         `{{block "b" 0}}{{if lt . 50}}{{template "b" (add . 1)}}{{template "b" (add . 1)}}{{end}}{{end}}`,
			timeout:     200 * time.Millisecond,
			wantTimeout: true,
		},
		{
			name:    "replace doubling a string 40 times",
			src:     `{{$s := "x"}}{{range seq 1 40}}{{$s = replace $s "x" "xx" -1}}{{end}}{{$s}}`,
			timeout: time.Minute,
			want:    `at <replace $s "x" "xx" -1>: a call to replace would return more than 32 MiB`,
		},
		{
			name:    "printf doubling a string",
			src:     `{{$s := "x"}}{{range seq 1 40}}{{$s = printf "%s%s" $s $s}}{{end}}`,
			timeout: time.Minute,
			want:    "a call to printf would return more than 32 MiB",
		},
		{
			name:    "printf with wide padding",
			src:     `{{printf "%09999999d%09999999d%09999999d%09999999d" 1 2 3 4}}`,
			timeout: time.Minute,
			want:    "a call to printf would return more than 32 MiB",
		},
		{
			name:    "printf padding every number of a list",
			src:     `{{printf "%0999999d" (seq 1 100)}}`,
			timeout: time.Minute,
			want:    "a call to printf would return more than 32 MiB",
		},
		{
			name:    "printf of one argument many times",
			src:     `{{$f := printf "%s" "%[1]s"}}{{range seq 1 5}}{{$f = printf "%s%s%s%s%s%s%s%s" $f $f $f $f $f $f $f $f}}{{end}}{{printf $f ` + mib0 + `}}`,
			timeout: time.Minute,
			want:    "a call to printf would return more than 32 MiB",
		},
		{
			name:    "print doubling a string",
			src:     `{{$s := ` + mib0 + `}}{{range seq 1 10}}{{$s = print $s $s}}{{end}}`,
			timeout: time.Minute,
			want:    "a call to print would return more than 32 MiB",
		},
		{
			name:    "println doubling a string",
			src:     `{{$s := ` + mib0 + `}}{{range seq 1 10}}{{$s = println $s $s}}{{end}}`,
			timeout: time.Minute,
			want:    "a call to println would return more than 32 MiB",
		},
		{
			name:    "html of ten million <",
			src:     `{{html (replace ` + mib0 + ` "0" "<<<<<<<<<<" -1)}}`,
			timeout: time.Minute,
			want:    "a call to html would return more than 32 MiB",
		},
		{
			name:    "js of ten million <",
			src:     `{{js (replace ` + mib0 + ` "0" "<<<<<<<<<<" -1)}}`,
			timeout: time.Minute,
			want:    "a call to js would return more than 32 MiB",
		},
		{
			name:    "urlquery of twelve million <",
			src:     `{{urlquery (replace ` + mib0 + ` "0" "<<<<<<<<<<<<" -1)}}`,
			timeout: time.Minute,
			want:    "a call to urlquery would return more than 32 MiB",
		},
		{
			name:    "toJSON of ten million control characters",
			src:     `{{toJSON (replace ` + mib0 + ` "0" (printf "%c%c%c%c%c%c%c%c%c%c" 1 1 1 1 1 1 1 1 1 1) -1)}}`,
			timeout: time.Minute,
			want:    "a call to toJSON would return more than 32 MiB",
		},
		{
			name:    "toPrettyJSON of lists nested 5000 deep",
			src:     `{{$d := printf "%05000d" 0}}{{toPrettyJSON (jsonArray (print (replace $d "0" "[" -1) (replace $d "0" "]" -1)))}}`,
			timeout: time.Minute,
			want:    "a call to toPrettyJSON would return more than 32 MiB",
		},
		{
			name:    "toUpper of invalid UTF-8",
			src:     `{{toUpper (replace (getv "/app/bin") "x" (replace ` + mib0 + ` "0" "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" -1) -1)}}`,
			timeout: time.Minute,
			want:    "a call to toUpper would return more than 32 MiB",
		},
		{
			name:    "base64Encode of 30 MB",
			src:     `{{base64Encode (replace ` + mib0 + ` "0" "012345678901234567890123456789" -1)}}`,
			timeout: time.Minute,
			want:    "a call to base64Encode would return more than 32 MiB",
		},
		{
			name:    "join with a long separator",
			src:     `{{join (split ` + mib0 + ` "") (printf "%0100d" 0)}}`,
			timeout: time.Minute,
			want:    "a call to join would return more than 32 MiB",
		},
		{
			name:    "split into every character of ten million",
			src:     `{{len (split (replace ` + mib0 + ` "0" "0000000000" -1) "")}}`,
			timeout: time.Minute,
			want:    "a call to split would return more than 1048576 entries",
		},
		{
			name:    "jsonArray of a million and more numbers",
			src:     `{{len (jsonArray (printf "[%s0]" (replace (printf "%01100000d" 0) "0" "0," -1)))}}`,
			timeout: time.Minute,
			want:    "a call to jsonArray would return more than 1048576 entries",
		},
		{
			name:    "a loop that rebuilds a 16 MB string",
			src:     `{{$s := replace ` + mib0 + ` "0" "0000000000000000" -1}}{{range seq 1 100}}{{$t := printf "%s" $s}}{{end}}`,
			timeout: time.Minute,
			want:    "a call to printf would take this render past 256 MiB of function results",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBinding("runaway", "/app", true, nil)
			b.RenderTimeout = tt.timeout
			got, err := renderText(t, b, tt.src, newSnapshot(t, 1, b.Selectors(), map[string]string{"/app/bin": "x"}))
			if got != "" {
				t.Errorf("output of %d bytes with an error", len(got))
			}
			re := renderError(t, err)
			prefix := `binding "runaway": template ` + templatesDir + "/runaway.tmpl"
			if !strings.HasPrefix(err.Error(), prefix) || re.Binding != "runaway" {
				t.Errorf("error %q does not start with %q", err, prefix)
			}
			if tt.wantTimeout {
				want := fmt.Sprintf("rendering did not finish within %s (render_timeout)", tt.timeout)
				if !errors.Is(err, render.ErrTimeout) || !strings.HasPrefix(err.Error(), prefix+": "+want) {
					t.Errorf("error = %v\nwant errors.Is ErrTimeout and %q", err, prefix+": "+want)
				}
				return
			}
			if errors.Is(err, render.ErrTimeout) || re.Line != 1 || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v (line %d)\nwant %q at line 1", err, re.Line, tt.want)
			}
		})
	}
}

// TestRenderBudgetScalesWithData renders, over 40 MB of data, a template
// that transforms every value twice without printing it: more than the
// base budget of 256 MiB would allow over smaller data, and fine here.
func TestRenderBudgetScalesWithData(t *testing.T) {
	data := map[string]string{}
	value := strings.Repeat("v", 1<<20)
	for i := range 40 {
		data[fmt.Sprintf("/app/k%02d", i)] = value
	}
	const src = `{{range seq 1 8}}{{range $k, $v := $.Data}}{{if contains (printf "%s" $v) "X"}}x{{end}}{{end}}{{end}}ok`
	b := newBinding("big", "/app", true, nil)
	b.RenderTimeout = time.Minute
	got, err := renderText(t, b, src, newSnapshot(t, 1, b.Selectors(), data))
	if err != nil || got != "ok" {
		t.Fatalf("got %q, %v; want ok", got, err)
	}
}

// TestCancelStopsRender cancels the context of a runaway render whose
// binding allows it an hour: Execute returns promptly with the
// cancellation, so a SIGTERM or the other bindings never wait for it.
func TestCancelStopsRender(t *testing.T) {
	b := newBinding("runaway", "/app", true, nil)
	b.RenderTimeout = time.Hour
	tmpl, err := render.CompileText(b, `{{$a := seq 1 1000000}}{{range $a}}{{range $a}}{{end}}{{end}}`)
	if err != nil {
		t.Fatal(err)
	}
	in, err := render.Gather(b, newSnapshot(t, 1, b.Selectors(), map[string]string{"/app/a": "1"}))
	if err != nil {
		t.Fatal(err)
	}

	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx := testfixtures.NewDoneCtx(parent)
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := tmpl.Execute(ctx, in)
		done <- result{out, err}
	}()
	var r result
	select {
	case <-ctx.Asked():
	case r = <-done:
		t.Fatalf("Execute returned %d bytes, %v without a look at its context", len(r.out), r.err)
	case <-time.After(time.Minute):
		t.Fatal("Execute did not start")
	}
	cancel()
	select {
	case r = <-done:
	case <-time.After(time.Minute):
		t.Fatal("Execute did not return after its context was cancelled")
	}
	re := renderError(t, r.err)
	if r.out != nil || re.Binding != "runaway" || !errors.Is(r.err, context.Canceled) || errors.Is(r.err, render.ErrTimeout) ||
		!strings.Contains(r.err.Error(), "rendering was stopped") {
		t.Errorf("Execute = %d bytes, %v; want the cancellation", len(r.out), r.err)
	}

	// A context that has ended stops a render before it starts.
	out, err := tmpl.Execute(parent, in)
	if out != nil || !errors.Is(err, context.Canceled) {
		t.Errorf("Execute with a cancelled context = %d bytes, %v", len(out), err)
	}
}

// TestBuiltinsStayBuiltins checks that the bounded print, printf, println,
// html, js and urlquery print what text/template's builtins do.
func TestBuiltinsStayBuiltins(t *testing.T) {
	kv := render.KVPair{Key: "/app/a", Value: "1"}
	tests := []struct{ src, want string }{
		{`{{printf "%d-%s-%q-%5.2f-%x-%v" 7 "a" "b" 3.14159 255 (seq 1 3)}}`, fmt.Sprintf("%d-%s-%q-%5.2f-%x-%v", 7, "a", "b", 3.14159, 255, []int{1, 2, 3})},
		{`{{printf "%[2]s %[1]s %s" "a" "b"}}`, fmt.Sprintf("%[2]s %[1]s %s", "a", "b")},
		{`{{printf "%*d|%-*d|" 4 1 3 2}}`, fmt.Sprintf("%*d|%-*d|", 4, 1, 3, 2)},
		{`{{printf "%d %d" 1}}`, "1 %!d(MISSING)"},
		{`{{printf "%d" 1 2}}`, "1%!(EXTRA int=2)"},
		{`{{printf "%z" "x"}}`, "%!z(string=x)"},
		{`{{printf "%+v|%#v" (get "/app/a") (ls "/app")}}`, fmt.Sprintf("%+v|%#v", kv, []string{"a", "b"})},
		{`{{printf "%v %T" .AltData .Revision}}`, fmt.Sprintf("%v %T", map[string]map[string]string{}, int64(1))},
		{`{{print 1 2 "a" "b" 3 (gets "/app/*")}}`, fmt.Sprint(1, 2, "a", "b", 3, []render.KVPair{kv, {Key: "/app/b", Value: "2"}})},
		{`{{println 1 "a"}}`, fmt.Sprintln(1, "a")},
		{`{{html "<a href='x'>&\"</a>\x00"}}`, template.HTMLEscapeString("<a href='x'>&\"</a>\x00")},
		{`{{js "<'a'=\"b\">\x01\u2028"}}`, template.JSEscapeString("<'a'=\"b\">\x01\u2028")},
		{`{{urlquery "a b&c=d/é"}}`, template.URLQueryEscaper("a b&c=d/é")},
		{`{{html 1 "<" 2}}`, template.HTMLEscaper(1, "<", 2)},
		{`{{"<x>" | html}}`, "&lt;x&gt;"},
		{`{{toJSON (map "a" (seq 1 2) "b" "\u2028<>")}}`, `{"a":[1,2],"b":"\u2028<>"}`},
	}
	b := newBinding("web", "/app", true, nil)
	snap := newSnapshot(t, 1, b.Selectors(), map[string]string{"/app/a": "1", "/app/b": "2"})
	for _, tt := range tests {
		got, err := renderText(t, b, tt.src, snap)
		if err != nil || got != tt.want {
			t.Errorf("render %s = %q, %v; want %q", tt.src, got, err, tt.want)
		}
	}
}
