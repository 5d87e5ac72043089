package bindings_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/snapshot"
)

func TestBindingSelectors(t *testing.T) {
	tests := []struct {
		name    string
		binding bindings.Binding
		want    []snapshot.Selector
	}{
		{
			name:    "single key",
			binding: bindings.Binding{Key: "/app/port"},
			want:    []snapshot.Selector{{Key: "/app/port"}},
		},
		{
			name:    "recursive key",
			binding: bindings.Binding{Key: "/app", Recursive: true},
			want:    []snapshot.Selector{{Key: "/app", Recursive: true}},
		},
		{
			name: "key then altkeys sorted by name, altkeys always recursive",
			binding: bindings.Binding{Key: "/test4", AltKeys: map[string]string{
				"zeta": "/z", "akey2": "/altkey2", "akey1": "/altkey1",
			}},
			want: []snapshot.Selector{
				{Key: "/test4"},
				{Key: "/altkey1", Recursive: true},
				{Key: "/altkey2", Recursive: true},
				{Key: "/z", Recursive: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.binding.Selectors(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Selectors() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestBindingReads(t *testing.T) {
	recursive := &bindings.Binding{Key: "/app", Recursive: true, AltKeys: map[string]string{"db": "/db/primary"}}
	single := &bindings.Binding{Key: "/app"}
	tests := []struct {
		name    string
		binding *bindings.Binding
		key     string
		want    bool
	}{
		{"recursive: the key itself", recursive, "/app", true},
		{"recursive: a child", recursive, "/app/web", true},
		{"recursive: a grandchild", recursive, "/app/web/port", true},
		{"recursive: /apple is another key", recursive, "/apple", false},
		{"recursive: /apple/x is another key", recursive, "/apple/x", false},
		{"recursive: /app-old is another key", recursive, "/app-old/x", false},
		{"recursive: the parent", recursive, "/", false},
		{"altkey itself", recursive, "/db/primary", true},
		{"altkey child (altkeys read recursively)", recursive, "/db/primary/host", true},
		{"altkey sibling", recursive, "/db/primaryx", false},
		{"altkey parent", recursive, "/db", false},
		{"single: the key", single, "/app", true},
		{"single: a child is not read", single, "/app/web", false},
		{"single: /apple", single, "/apple", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.binding.Reads(tt.key); got != tt.want {
				t.Errorf("Reads(%q) = %v, want %v", tt.key, got, tt.want)
			}
		})
	}
}

func TestSetSelect(t *testing.T) {
	set := &bindings.Set{Dir: "/etc/reconfig", TemplatesDir: "/etc/reconfig/templates", Bindings: []*bindings.Binding{
		{ID: "test1", Key: "/test1"},
		{ID: "test3_altpattern", Key: "/test3"},
		{ID: "test4_altkey", Key: "/test4", AltKeys: map[string]string{"akey1": "/altkey1"}},
	}}
	tests := []struct {
		name    string
		ids     []string
		want    []string // ids of the result
		wantErr string
	}{
		{name: "no ids keeps all", ids: nil, want: []string{"test1", "test3_altpattern", "test4_altkey"}},
		{name: "one id", ids: []string{"test3_altpattern"}, want: []string{"test3_altpattern"}},
		{name: "result sorted, duplicates once", ids: []string{"test4_altkey", "test1", "test4_altkey"}, want: []string{"test1", "test4_altkey"}},
		{
			name:    "unknown id lists the known ones",
			ids:     []string{"test1", "test2"},
			wantErr: `no binding has id "test2" (known: test1, test3_altpattern, test4_altkey)`,
		},
		{name: "ids are case sensitive", ids: []string{"TEST1"}, wantErr: `no binding has id "TEST1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := set.Select(tt.ids)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Select(%q) error = %v, want %q", tt.ids, err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("Select returned a set with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Select(%q): %v", tt.ids, err)
			}
			var ids []string
			for _, b := range got.Bindings {
				ids = append(ids, b.ID)
			}
			if !reflect.DeepEqual(ids, tt.want) {
				t.Errorf("Select(%q) = %q, want %q", tt.ids, ids, tt.want)
			}
			if got.Dir != set.Dir || got.TemplatesDir != set.TemplatesDir {
				t.Errorf("Select lost Dir/TemplatesDir: %+v", got)
			}
		})
	}
	// The selected set reads only its bindings' keys.
	sub, err := set.Select([]string{"test4_altkey"})
	if err != nil {
		t.Fatal(err)
	}
	want := []snapshot.Selector{{Key: "/test4"}, {Key: "/altkey1", Recursive: true}}
	if got := sub.Selectors(); !reflect.DeepEqual(got, want) {
		t.Errorf("Selectors() = %+v, want %+v", got, want)
	}
}

func TestSetGet(t *testing.T) {
	set := &bindings.Set{Bindings: []*bindings.Binding{{ID: "a"}, {ID: "b/c"}, {ID: "d"}}}
	for _, id := range []string{"a", "b/c", "d"} {
		if b := set.Get(id); b == nil || b.ID != id {
			t.Errorf("Get(%q) = %v", id, b)
		}
	}
	for _, id := range []string{"", "b", "c", "e"} {
		if b := set.Get(id); b != nil {
			t.Errorf("Get(%q) = %v, want nil", id, b)
		}
	}
}

func TestParsePattern(t *testing.T) {
	tests := []struct {
		pattern     string
		left, right string
		wantErr     string
	}{
		{pattern: "{{ }}", left: "{{", right: "}}"},
		{pattern: "#% %#", left: "#%", right: "%#"},
		{pattern: "<% %>", left: "<%", right: "%>"},
		{pattern: "#%= %#", left: "#%=", right: "%#"},
		{pattern: "\t[[   ]] ", left: "[[", right: "]]"},
		{pattern: "{{", wantErr: "must be two delimiters"},
		{pattern: "{{ }} <%", wantErr: "must be two delimiters"},
		{pattern: "   ", wantErr: "must be two delimiters"},
		{pattern: "@@ @@", wantErr: "must differ"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			l, r, err := bindings.ParsePattern(tt.pattern)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePattern(%q) = %q, %q, %v; want error %q", tt.pattern, l, r, err, tt.wantErr)
				}
				return
			}
			if err != nil || l != tt.left || r != tt.right {
				t.Errorf("ParsePattern(%q) = %q, %q, %v; want %q, %q", tt.pattern, l, r, err, tt.left, tt.right)
			}
		})
	}
}

func TestOwners(t *testing.T) {
	tests := []struct {
		name         string
		owner, group string
		uid, gid     int
		wantErr      string
	}{
		{name: "unset keeps the existing", uid: -1, gid: -1},
		{name: "numeric ids need no lookup", owner: "4242", group: "4343", uid: 4242, gid: 4343},
		{name: "owner only", owner: "0", uid: 0, gid: -1},
		{name: "unknown user", owner: "no-such-user-reconfig", wantErr: `owner "no-such-user-reconfig": no such user or group`},
		{name: "unknown group", group: "no-such-group-reconfig", wantErr: `group "no-such-group-reconfig": no such user or group`},
		{name: "negative id is looked up as a name", owner: "-1", wantErr: `owner "-1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &bindings.Binding{ID: "web", Owner: tt.owner, Group: tt.group}
			uid, gid, err := b.Owners()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Owners() = %d, %d, %v; want error %q", uid, gid, err, tt.wantErr)
				}
				return
			}
			if err != nil || uid != tt.uid || gid != tt.gid {
				t.Errorf("Owners() = %d, %d, %v; want %d, %d", uid, gid, err, tt.uid, tt.gid)
			}
		})
	}
}
