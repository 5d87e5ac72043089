package render

import (
	"bytes"
	"iter"
	"strings"
	"testing"
	"text/template"
)

// instrumentData is what the templates of TestInstrumentKeepsOutput
// range over: every kind text/template ranges over. The iterators and the
// channel are methods, so that printing the data prints no address.
type instrumentData struct {
	List  []int
	Empty []string
	Map   map[string]int
	N     int
	Str   string
}

func newInstrumentData() instrumentData {
	return instrumentData{List: []int{1, 2, 3, 4, 5, 6}, Map: map[string]int{"b": 2, "a": 1, "c": 3}, N: 4, Str: "text"}
}

func (instrumentData) Seq() iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := range 5 {
			if !yield(i * i) {
				return
			}
		}
	}
}

func (instrumentData) Seq2() iter.Seq2[string, int] {
	return func(yield func(string, int) bool) {
		for i, s := range []string{"x", "y", "z"} {
			if !yield(s, i) {
				return
			}
		}
	}
}

func (instrumentData) Ch() chan int {
	ch := make(chan int, 2)
	ch <- 7
	ch <- 8
	close(ch)
	return ch
}

// instrumentCases are templates whose output instrument must not change.
var instrumentCases = []string{
	"",
	"plain text only",
	"{{/* a comment */}}a {{- /* trimmed */ -}} b",
	"a {{- range .List -}} [{{.}}] {{- end -}} b\n",
	"{{range .List}}\n  {{- .}}\n{{end -}}\nafter",
	"{{range .Empty}}x{{else}}empty{{end}}|{{range .List}}{{.}}{{else}}never{{end}}",
	"{{range .List}}{{if eq . 3}}{{continue}}{{end}}{{if eq . 5}}{{break}}{{end}}{{.}},{{end}}",
	"{{range $i, $e := .List}}{{if lt $i 2}}{{continue}}{{end}}{{$i}}={{$e}} {{end}}",
	"{{range 5}}{{.}}{{end}}|{{range $i := .N}}<{{$i}}>{{end}}|{{range 0}}x{{else}}zero{{end}}",
	"{{range .Seq}}{{.}},{{end}}|{{range $k, $v := .Seq2}}{{$k}}={{$v}};{{if eq $k \"y\"}}{{break}}{{end}}{{end}}",
	"{{range .Ch}}{{.}}{{end}}",
	"{{range $k, $v := .Map}}{{$k}}{{$v}}{{end}}",
	"{{$x := 0}}{{range .List}}{{$x = .}}{{$y := .}}{{end}}{{$x}}",
	"{{range $i, $e := .List}}{{range $.List}}{{if eq . $e}}{{$i}}{{end}}{{end}}{{end}}",
	"{{with .Empty}}a{{else with .N}}n={{.}}{{else}}none{{end}}",
	"{{if .Empty}}e{{else if .List}}{{range .List}}{{.}}{{end}}{{else}}none{{end}}",
	`{{define "item"}}<{{.}}>{{end}}{{range .List}}{{template "item" .}}{{end}}`,
	`{{block "b" .N}}[{{.}}]{{end}}{{define "empty"}}{{end}}{{template "empty"}}`,
	`{{define "r"}}{{if gt . 0}}{{.}}{{template "r" (sub . 1)}}{{end}}{{end}}{{template "r" 5}}`,
	`{{define "only"}}x{{end}}`,
	"{{range .List}}{{index $.List 10}}{{end}}",
	"{{.Str}}{{range .Str}}x{{end}}",
	"a\n{{range .List}}\n{{- if eq . 2}}{{break}}{{end}}\n{{.}}{{end}}\n",
}

// execInstrumented renders src over data with the function set of a fresh
// render, instrumented or not.
func execInstrumented(t testing.TB, src string, instrumented bool) (string, error, bool) {
	t.Helper()
	r := newRun(&store{})
	tmpl, err := template.New("t.tmpl").Funcs(funcs(r)).Parse(src)
	if err != nil {
		return "", nil, false
	}
	if instrumented {
		instrument(tmpl)
	}
	var out bytes.Buffer
	err = tmpl.Execute(&out, newInstrumentData())
	return out.String(), err, true
}

// checkInstrumented asserts that instrument changes neither the output of
// src nor its error.
func checkInstrumented(t testing.TB, src string) {
	t.Helper()
	want, wantErr, ok := execInstrumented(t, src, false)
	if !ok {
		return
	}
	got, gotErr, _ := execInstrumented(t, src, true)
	if got != want {
		t.Errorf("template %q\ninstrumented: %q\nplain:        %q", src, got, want)
	}
	if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
		t.Errorf("template %q\ninstrumented error: %v\nplain error:        %v", src, gotErr, wantErr)
	}
}

func TestInstrumentKeepsOutput(t *testing.T) {
	for _, src := range instrumentCases {
		checkInstrumented(t, src)
	}
	// And the checks are there: one per template body, one per range.
	tmpl := template.Must(template.New("t").Funcs(funcStubs).
		Parse(`{{define "a"}}{{range .}}{{range .}}{{end}}{{end}}{{end}}{{block "b" .}}{{if .}}{{range .}}{{else}}{{end}}{{end}}{{end}}`))
	instrument(tmpl)
	n := 0
	for _, tm := range tmpl.Templates() {
		n += strings.Count(tm.Tree.Root.String(), "{{if "+stoppedFunc+"}}{{"+stopFunc+"}}{{end}}")
	}
	if n != 3+3 { // bodies of t, a, b; three ranges
		t.Errorf("%d stop checks, want 6", n)
	}
}

// FuzzInstrument checks on any template that instrument changes neither
// its output nor its error.
func FuzzInstrument(f *testing.F) {
	for _, src := range instrumentCases {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		// A loop that only ends by its timeout is not for this test.
		if strings.Count(src, "range") > 2 || strings.Contains(src, "template") || strings.Contains(src, "seq") {
			return
		}
		checkInstrumented(t, src)
	})
}
