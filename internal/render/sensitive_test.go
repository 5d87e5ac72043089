package render_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestSensitiveErrors renders failing templates of a sensitive binding:
// the error keeps where it failed (binding, template, line, action) and a
// missing key's name, but no text that may quote a value.
func TestSensitiveErrors(t *testing.T) {
	const hidden = "(details hidden: the binding is sensitive)"
	data := map[string]string{
		"/app/pin":    "SECRET-4711",
		"/app/num":    "4711",
		"/app/cfg":    `{"password": "SECRET-hunter2", `,
		"/app/list":   `{"password": "SECRET-hunter2"}`,
		"/app/b64":    "SECRET-4711!",
		"/app/binary": "SECRET-\x00-4711",
		"/app/yaml":   "password: SECRET-hunter2\npassword: SECRET-4711\n",
	}
	secrets := []string{"SECRET", "4711", "hunter2"}
	tests := []struct {
		name string
		src  string
		line int
		// want are substrings of the sensitive binding's error; plain of
		// the same binding's error when it is not sensitive.
		want  []string
		plain string
		key   string
	}{
		{
			name:  "atoi of a secret",
			src:   "port\n{{atoi (getv \"/app/pin\")}}",
			line:  2,
			want:  []string{`at <atoi (getv "/app/pin")>: atoi: ` + hidden},
			plain: `strconv.Atoi: parsing "SECRET-4711": invalid syntax`,
		},
		{
			name:  "parseBool of a secret",
			src:   `{{if parseBool (getv "/app/pin")}}x{{end}}`,
			line:  1,
			want:  []string{`at <parseBool (getv "/app/pin")>: parseBool: ` + hidden},
			plain: `parsing "SECRET-4711"`,
		},
		{
			name:  "json of a secret that is not JSON",
			src:   `{{(json (getv "/app/cfg")).password}}`,
			line:  1,
			want:  []string{`json: ` + hidden},
			plain: "json: value is not a JSON object",
		},
		{
			name:  "json of a secret that is not an object",
			src:   `{{json (getv "/app/pin")}}`,
			line:  1,
			want:  []string{`json: ` + hidden},
			plain: "invalid character 'S'",
		},
		{
			name:  "jsonArray of a secret object",
			src:   `{{range jsonArray (getv "/app/list")}}{{.}}{{end}}`,
			line:  1,
			want:  []string{`jsonArray: ` + hidden},
			plain: "jsonArray: value is not a JSON array",
		},
		{
			name:  "fromYAML of a secret with a duplicate key",
			src:   `{{(fromYAML (getv "/app/yaml")).password}}`,
			line:  1,
			want:  []string{`at <fromYAML (getv "/app/yaml")>: fromYAML: ` + hidden},
			plain: `fromYAML: line 2: key "password" appears twice in a mapping`,
		},
		{
			name:  "toTOML of a secret list",
			src:   `{{toTOML (split (getv "/app/pin") "-")}}`,
			line:  1,
			want:  []string{`toTOML: ` + hidden},
			plain: "toTOML: want a map, as a TOML document is a table; got a list",
		},
		{
			name:  "base64Decode of a secret",
			src:   "\n\n{{base64Decode (getv \"/app/b64\")}}",
			line:  3,
			want:  []string{`at <base64Decode (getv "/app/b64")>: base64Decode: ` + hidden},
			plain: "base64Decode: illegal base64 data at input byte 6",
		},
		{
			name:  "an index taken from a secret",
			src:   `{{index (ls "/app") (atoi (getv "/app/num"))}}`,
			line:  1,
			want:  []string{`index: ` + hidden},
			plain: "index out of range: 4711",
		},
		{
			name:  "a range over a secret",
			src:   `{{range getv "/app/pin"}}{{.}}{{end}}`,
			line:  1,
			want:  []string{`at <"/app/pin">: ` + hidden},
			plain: "range can't iterate over SECRET-4711",
		},
		{
			name:  "a secret as a map key",
			src:   `{{range $k, $v := .AltData}}{{end}}{{$m := map (getv "/app/pin") 1}}{{$m.other}}`,
			line:  1,
			want:  []string{`at <$m.other>: map has no entry for key "other"`},
			plain: `map has no entry for key "other"`,
		},
		{
			name:  "a missing key keeps its message",
			src:   "\n{{getv \"/app/missing\"}}",
			line:  2,
			want:  []string{"key /app/missing does not exist"},
			plain: "key /app/missing does not exist",
			key:   "/app/missing",
		},
		{
			name:  "a key named by a secret",
			src:   `{{getv (getv "/app/pin")}}`,
			line:  1,
			want:  []string{`at <getv (getv "/app/pin")>: getv: a key the template built is not read by this binding; its name is not shown ` + hidden},
			plain: "key SECRET-4711 is not read by this binding",
		},
		{
			name:  "a missing key built from a secret",
			src:   `{{getv (printf "/app/%s" (getv "/app/num"))}}`,
			line:  1,
			want:  []string{`getv: a key the template built does not exist; its name is not shown ` + hidden},
			plain: "key /app/4711 does not exist",
		},
		{
			name:  "binary data names its key, not where it is",
			src:   `x{{getv "/app/binary"}}`,
			want:  []string{"key /app/binary holds binary data: rendered output is not text " + hidden, "use base64Encode"},
			plain: "NUL byte at offset 8",
			key:   "/app/binary",
		},
		{
			name:  "a refused size keeps its message",
			src:   `{{printf "%09999999d%09999999d%09999999d%09999999d" (atoi (getv "/app/num")) 1 2 3}}`,
			line:  1,
			want:  []string{`at <printf "%09999999d`, `1 2 3>: a call to printf would return more than 32 MiB`},
			plain: "a call to printf would return more than 32 MiB",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBinding("vault", "/app", true, nil)
			snap := newSnapshot(t, 1, b.Selectors(), data)
			_, err := renderText(t, b, tt.src, snap)
			if err == nil || !strings.Contains(err.Error(), tt.plain) {
				t.Fatalf("not sensitive: error = %v, want %q", err, tt.plain)
			}

			b.Sensitive = true
			_, err = renderText(t, b, tt.src, snap)
			re := renderError(t, err)
			if re.Binding != "vault" || re.Line != tt.line || re.Key != tt.key {
				t.Errorf("error fields = %+v, want binding vault, line %d, key %q", re, tt.line, tt.key)
			}
			msg := err.Error()
			prefix := `binding "vault": template ` + templatesDir + "/vault.tmpl"
			if !strings.HasPrefix(msg, prefix) {
				t.Errorf("error %q does not start with %q", msg, prefix)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			// Nothing of a value: not in the message, the fields, nor
			// any error it wraps.
			texts := []string{msg, fmt.Sprintf("%+v", *re)}
			for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
				texts = append(texts, e.Error())
			}
			for _, text := range texts {
				for _, s := range secrets {
					if strings.Contains(strings.ReplaceAll(text, "/app/", ""), s) {
						t.Errorf("error shows %q: %s", s, text)
					}
				}
			}
		})
	}
}
