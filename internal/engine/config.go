package engine

import (
	"errors"
	"sort"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/internal/render"
)

// Config is a loaded configuration directory: the bindings and their
// compiled templates, by binding id.
type Config struct {
	Set       *bindings.Set
	Templates map[string]*render.Template
}

// Load reads every binding and template of dir. Its error lists every
// problem found (LoadErrors), or says that dir holds no configuration.
func Load(dir string) (*Config, error) {
	set, err := bindings.Load(dir)
	var errs LoadErrors
	var berrs bindings.Errors
	switch {
	case errors.As(err, &berrs):
		for _, e := range berrs {
			errs = append(errs, e)
		}
	case err != nil:
		return nil, hint.Wrap(err, "pass --cfgdir DIR (or RECONFIG_CFGDIR): a directory holding conf.d/ and templates/")
	}
	cfg := &Config{Set: set, Templates: map[string]*render.Template{}}
	var c render.Compiler
	for _, b := range set.Bindings {
		t, err := c.Compile(b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cfg.Templates[b.ID] = t
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return nil, errs
	}
	return cfg, nil
}

// LoadErrors collects every problem of a configuration directory so that
// all are reported at once.
type LoadErrors []error

func (l LoadErrors) Error() string {
	var s string
	for i, e := range l {
		if i > 0 {
			s += "\n"
		}
		s += e.Error()
	}
	return s
}

func (l LoadErrors) Unwrap() []error { return l }

var _ hint.Hinter = LoadErrors(nil)

// Hint says what to do.
func (l LoadErrors) Hint() string {
	return "fix the files above; `reconfig validate` checks them without etcd"
}
