package apply

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/reconfig/reconfig/internal/atomicfile"
	"github.com/reconfig/reconfig/plan"
	"github.com/reconfig/reconfig/state"
)

// Outcome is what happened to one binding.
type Outcome struct {
	ID     string
	Target string
	// Action is what the plan asked for.
	Action plan.Action
	// Changed is true when the target now holds the planned content (or,
	// for a delete, is gone).
	Changed bool
	// CreatedDir is the parent directory apply had to create, if any.
	CreatedDir string
	Check      *CommandResult
	// Reload is the run of the binding's reload command; bindings that
	// share a command share the result.
	Reload *CommandResult
	// Err is why the binding failed.
	Err error

	change *plan.Change
	staged *atomicfile.Staged
	// prev is the target before apply replaced it, for restoring it when
	// a check of the installed file fails (nil: there was none).
	prev *atomicfile.Current
	// installed is the file apply renamed into place: a failed check
	// puts prev back only over that file, not over an edit made since.
	installed atomicfile.Stamp
}

// Reason is the plan's reason for a skipped, failed or orphaned binding.
func (o *Outcome) Reason() string { return o.change.Reason }

// Skipped says why the binding was skipped ("" when it was not).
func (o *Outcome) Skipped() plan.SkipReason { return o.change.Skipped }

// Warnings are the plan's warnings about the binding's target.
func (o *Outcome) Warnings() []string { return o.change.Warnings }

// TargetHash is the hex SHA-256 of what the target holds after the apply
// ("" when it does not exist): the new content when the binding changed
// it, the content found otherwise (a failed binding's target is left or put
// back as it was).
func (o *Outcome) TargetHash() string {
	switch {
	case o.Changed && o.Action == plan.Delete:
		return ""
	case o.Changed || o.Action == plan.NoOp:
		return o.change.AfterHash
	}
	return o.change.BeforeHash
}

// Sensitive reports whether the binding is marked sensitive.
func (o *Outcome) Sensitive() bool { return o.change.Sensitive }

// Failed reports whether the binding failed in this apply.
func (o *Outcome) Failed() bool { return o.Err != nil || o.Action == plan.Fail }

// Reload is one run of a reload command for the bindings that share it.
type Reload struct {
	IDs    []string
	Result *CommandResult
}

// Result is the outcome of executing a plan.
type Result struct {
	Revision int64
	Outcomes []*Outcome // one per change of the plan, in plan order
	Reloads  []*Reload
}

// Summary counts outcomes the way apply's last line reports them.
type Summary struct {
	Created, Updated, Deleted, Failed, Skipped int
}

// Summary tallies the result.
func (r *Result) Summary() Summary {
	var s Summary
	for _, o := range r.Outcomes {
		switch {
		case o.Failed():
			s.Failed++
		case o.Action == plan.Skip:
			s.Skipped++
		case !o.Changed:
		case o.Action == plan.Create:
			s.Created++
		case o.Action == plan.Update:
			s.Updated++
		case o.Action == plan.Delete:
			s.Deleted++
		}
	}
	return s
}

// Failed reports whether any binding failed.
func (r *Result) Failed() bool { return r.Summary().Failed > 0 }

// stageWorkers bounds concurrent staging; fsync is I/O, not CPU, bound.
const stageWorkers = 16

// swept records the targets whose directories this process already rid of
// files staged by a process that died before renaming them. Once per
// target is enough while no other process dies holding the state lock:
// while a process holds it no other reconfig stages, and its own staged
// files never outlive a cycle. When one may have (Options.Resweep), every
// directory is looked at again.
var swept sync.Map

// Options tune Execute.
type Options struct {
	// Journal is where the last checked content of targets installed
	// before their check is kept until the check is done (JournalPath of
	// the state file); "" keeps none.
	Journal string
	// ShowCommands reports check and reload commands as passed without
	// running them (`reconfig dev` on an operator's bindings).
	ShowCommands bool
	// Resweep looks for staged files beside every target again, also
	// where this process looked before: another process may have died
	// holding the state lock since (state.Lock.Interrupted).
	Resweep bool
}

// Execute applies the plan. ctx cancels commands in flight; files already
// renamed stay (each is whole and checked or restored).
func Execute(ctx context.Context, p *plan.Plan, opts Options) *Result {
	r := &Result{Revision: p.Revision}
	runCmd := runner(run)
	if opts.ShowCommands {
		runCmd = show
	}
	var writes, deletes []*Outcome
	r.Outcomes, writes, deletes = outcomes(p)

	// Files staged by a process killed before it renamed them are swept
	// for every target of the plan, not only those written now: a target
	// that a killed apply had already installed is a no-op for the next
	// one, but the other files that apply staged may still be there.
	var targets []string
	for _, o := range r.Outcomes {
		if o.Action != plan.Orphan && o.Target != "" {
			targets = append(targets, o.Target)
		}
	}
	sweep(targets, opts.Resweep)

	stageAll(writes)
	precheck(ctx, runCmd, p, writes)
	postchecked, journaled := journalPostchecked(opts.Journal, writes)
	install(writes)
	postcheck(ctx, runCmd, p, writes)
	if journaled {
		if err := removeJournal(opts.Journal); err != nil {
			// The next run finds it and puts back what it holds; say so.
			for _, o := range postchecked {
				if o.Err == nil {
					o.Err = err
				}
			}
		}
	}
	remove(deletes)
	r.Reloads = reload(ctx, runCmd, p, writes)
	return r
}

// outcomes makes the outcome of every change of the plan, in plan order,
// and picks out the writes (create, update) and the deletes. A change the
// plan failed is failed from the start.
func outcomes(p *plan.Plan) (all, writes, deletes []*Outcome) {
	for _, ch := range p.Changes {
		o := &Outcome{ID: ch.ID, Target: ch.Target, Action: ch.Action, change: ch}
		if ch.Action == plan.Fail {
			o.Err = ch.Err
			if o.Err == nil {
				o.Err = errors.New(ch.Reason)
			}
		}
		all = append(all, o)
		switch ch.Action {
		case plan.Create, plan.Update:
			writes = append(writes, o)
		case plan.Delete:
			deletes = append(deletes, o)
		}
	}
	return all, writes, deletes
}

// stageAll stages every write concurrently: temp file, write, fsync,
// attributes. A write without a check has nothing to wait for: it is
// installed as soon as it is staged, and its directory fsynced with the
// others' (install).
func stageAll(writes []*Outcome) {
	parallel(writes, stageWorkers, func(o *Outcome) {
		stage(o)
		if o.staged != nil && o.change.CheckCmd == "" {
			installOne(o)
		}
	})
	// Which stage created a shared directory is a race: every target in
	// it says so, and the first in plan order is where it is shown.
	created := map[string]bool{}
	for _, o := range writes {
		if o.CreatedDir != "" {
			created[o.CreatedDir] = true
		}
	}
	for _, o := range writes {
		if dir := filepath.Dir(o.Target); created[dir] {
			o.CreatedDir = dir
		}
	}
}

// precheck runs the checks of the staged files (a checkcmd with
// {{.src}}), before anything is installed: a failed check discards its
// staged file.
func precheck(ctx context.Context, runCmd runner, p *plan.Plan, writes []*Outcome) {
	var prechecked []*Outcome
	for _, o := range writes {
		if o.staged != nil && o.change.CheckCmd != "" && usesSrc(o.change.CheckCmd) {
			prechecked = append(prechecked, o)
		}
	}
	parallel(prechecked, 4, func(o *Outcome) {
		ch := o.change
		o.Check = runCheck(ctx, runCmd, ch, o.staged.Path(), env(p, []string{ch.ID}, []string{ch.Target}))
		if o.Check.Err != nil {
			o.staged.Discard()
			o.staged = nil
			if o.prev == nil {
				o.Err = fmt.Errorf("check failed: %v; %s was not created", o.Check.Err, ch.Target)
			} else {
				o.Err = fmt.Errorf("check failed: %v; %s keeps its old content", o.Check.Err, ch.Target)
			}
		}
	})
}

// journalPostchecked records, at path, the targets checked only once installed,
// before any is installed: a kill before their check is done must not
// leave unchecked content for good (Recover). It returns those targets
// and whether a journal was written; when it cannot be, they are not
// installed.
func journalPostchecked(path string, writes []*Outcome) (postchecked []*Outcome, journaled bool) {
	for _, o := range writes {
		if o.staged != nil && o.change.CheckCmd != "" && !usesSrc(o.change.CheckCmd) {
			postchecked = append(postchecked, o)
		}
	}
	if len(postchecked) == 0 || path == "" {
		return postchecked, false
	}
	if err := writeJournal(path, postchecked); err != nil {
		for _, o := range postchecked {
			o.staged.Discard()
			o.staged = nil
			o.Err = fmt.Errorf("%w; %s was left as it is", err, o.Target)
		}
		return postchecked, false
	}
	return postchecked, true
}

// install renames each staged file over its target (those without a
// check were renamed as they were staged), then fsyncs the directory of
// every installed target once.
func install(writes []*Outcome) {
	dirs := map[string]bool{}
	for _, o := range writes {
		if o.staged != nil {
			installOne(o)
		}
		if o.Changed {
			dirs[filepath.Dir(o.Target)] = true
		}
	}
	syncDirs(dirs, writes)
}

// installOne renames o's staged file over its target, unless the target
// changed since it was read.
func installOne(o *Outcome) {
	// The last look: a target edited by hand while its check ran is not
	// overwritten.
	if changed, err := atomicfile.Changed(o.Target, o.prev); err != nil || changed {
		o.staged.Discard()
		o.staged = nil
		o.Err = fmt.Errorf("%s changed while it was being checked (edited by hand?); it was left as it is (plan again)", o.Target)
		if err != nil {
			o.Err = err
		}
		return
	}
	if err := o.staged.Commit(); err != nil {
		o.staged.Discard()
		o.staged = nil
		o.Err = err
		return
	}
	o.staged = nil
	o.Changed = true
	o.installed = atomicfile.StampAt(o.Target)
}

// postcheck runs the checks of the installed files (a checkcmd without
// {{.src}}); a failure restores the old content.
func postcheck(ctx context.Context, runCmd runner, p *plan.Plan, writes []*Outcome) {
	for _, o := range writes {
		ch := o.change
		if !o.Changed || ch.CheckCmd == "" || usesSrc(ch.CheckCmd) {
			continue
		}
		o.Check = runCheck(ctx, runCmd, ch, ch.Target, env(p, []string{ch.ID}, []string{ch.Target}))
		if o.Check.Err == nil {
			continue
		}
		o.Changed = false
		if now := atomicfile.StampAt(ch.Target); now != o.installed {
			// Edited by hand while the check ran: the edit is not
			// what failed, and is not undone.
			o.Err = fmt.Errorf("check failed: %v; %s changed while its check ran (edited by hand?); it was left as it is (plan again)", o.Check.Err, ch.Target)
			continue
		}
		if err := restore(o); err != nil && o.prev == nil {
			o.Err = fmt.Errorf("check failed: %v; removing %s again (it did not exist before) failed too: %w", o.Check.Err, ch.Target, err)
		} else if err != nil {
			o.Err = fmt.Errorf("check failed: %v; restoring the old content failed too: %w", o.Check.Err, err)
		} else if o.prev == nil {
			o.Err = fmt.Errorf("check failed: %v; %s was removed again (it did not exist before)", o.Check.Err, ch.Target)
		} else {
			o.Err = fmt.Errorf("check failed: %v; the old content of %s was restored", o.Check.Err, ch.Target)
		}
	}
}

// remove deletes the pruned targets, then fsyncs each directory once.
func remove(deletes []*Outcome) {
	dirs := map[string]bool{}
	for _, o := range deletes {
		if err := os.Remove(o.Target); err != nil && !errors.Is(err, fs.ErrNotExist) {
			o.Err = fmt.Errorf("delete %s: %w", o.Target, atomicfile.WithoutPath(err))
			continue
		}
		o.Changed = true
		dirs[filepath.Dir(o.Target)] = true
	}
	syncDirs(dirs, deletes)
}

// stage prepares one write: the target must still be as planned, its
// directory must exist, and the new content is staged beside it.
func stage(o *Outcome) {
	ch := o.change
	prev, err := current(ch)
	if err != nil {
		o.Err = err
		return
	}
	o.prev = prev
	if _, err := expand(ch.CheckCmd, "", ""); err != nil {
		// Found before anything is written, not after the rename.
		o.Err = fmt.Errorf("checkcmd: %w; %s was left as it is", err, ch.Target)
		return
	}
	dir := filepath.Dir(ch.Target)
	// A target that is there has its directory: only a new one may need
	// it made.
	if prev == nil {
		if err := makeDir(o, dir); err != nil {
			o.Err = err
			return
		}
	}
	s, err := atomicfile.Stage(ch.Target, ch.After, atomicfile.Attrs{Mode: ch.Mode, UID: ch.UID, GID: ch.GID})
	if err != nil {
		o.Err = err
		return
	}
	o.staged = s
}

// makeDir creates dir, the directory of o's target, when it does not exist,
// and fsyncs its parent.
func makeDir(o *Outcome, dir string) error {
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, atomicfile.WithoutPath(err))
	}
	o.CreatedDir = dir
	return atomicfile.SyncDir(filepath.Dir(dir))
}

// current is the target of ch as it is now, which must still be what the
// plan was made against: the file planning read in this process when it
// is still that one (inode, size, modification and change time), else the file read
// again and its content compared.
func current(ch *plan.Change) (*atomicfile.Current, error) {
	if ch.Read {
		if changed, err := atomicfile.Changed(ch.Target, ch.Found); err == nil && !changed {
			return ch.Found, nil
		}
	}
	cur, err := atomicfile.ReadCurrent(ch.Target, plan.MaxTargetSize)
	if err != nil {
		return nil, err
	}
	hash := ""
	if cur != nil {
		hash = plan.Hash(cur.Data)
	}
	if hash != ch.BeforeHash {
		return nil, fmt.Errorf("%s changed since the plan was made; it was left as it is (plan again)", ch.Target)
	}
	return cur, nil
}

// sweep removes the staged files of the targets left by a dead process,
// once per target and process (again: every target once more), reading
// each directory once.
func sweep(targets []string, again bool) {
	byDir := map[string]map[string]bool{}
	for _, t := range targets {
		if _, done := swept.Load(t); done && !again {
			continue
		}
		dir, base := filepath.Split(t)
		if byDir[dir] == nil {
			byDir[dir] = map[string]bool{}
		}
		byDir[dir][base] = true
	}
	for dir, bases := range byDir {
		if err := atomicfile.RemoveStaleIn(dir, bases); err != nil {
			// Left for the next run; staging uses fresh names anyway.
			continue
		}
		for base := range bases {
			swept.Store(filepath.Join(dir, base), true)
		}
	}
}

// restore puts back what the target held before apply replaced it: the old
// file, or no file for a create.
func restore(o *Outcome) error {
	if o.prev == nil {
		if err := os.Remove(o.Target); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return atomicfile.SyncDir(filepath.Dir(o.Target))
	}
	return atomicfile.Write(o.Target, o.prev.Data, o.prev.Attrs)
}

func syncDirs(dirs map[string]bool, outs []*Outcome) {
	errs := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for d := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := atomicfile.SyncDir(d); err != nil {
				mu.Lock()
				errs[d] = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, o := range outs {
		if err := errs[filepath.Dir(o.Target)]; err != nil && o.Changed && o.Err == nil {
			o.Err = err
		}
	}
}

// reload runs each distinct reload command of the changed targets once, in
// the order of the first binding that names it.
func reload(ctx context.Context, run runner, p *plan.Plan, writes []*Outcome) []*Reload {
	var order []string
	groups := map[string][]*Outcome{}
	for _, o := range writes {
		cmd := o.change.ReloadCmd
		if !o.Changed || o.Err != nil || cmd == "" {
			continue
		}
		if _, ok := groups[cmd]; !ok {
			order = append(order, cmd)
		}
		groups[cmd] = append(groups[cmd], o)
	}
	var out []*Reload
	for _, cmd := range order {
		g := groups[cmd]
		ids := make([]string, len(g))
		targets := make([]string, len(g))
		timeout := time.Duration(0)
		for i, o := range g {
			ids[i], targets[i] = o.ID, o.Target
			timeout = max(timeout, o.change.CommandTimeout)
		}
		res := run(ctx, cmd, env(p, ids, targets), timeout)
		for _, o := range g {
			if o.change.Sensitive {
				res.hideOutput()
			}
		}
		for _, o := range g {
			o.Reload = res
			if res.Err != nil {
				o.Err = fmt.Errorf("reload failed: %v (%s has its new content)", res.Err, o.Target)
			}
		}
		out = append(out, &Reload{IDs: ids, Result: res})
	}
	return out
}

// env is the environment of a command: the binding ids and targets it runs
// for (space-separated when bindings share a reload command) and the
// revision.
func env(p *plan.Plan, ids, targets []string) []string {
	return []string{
		"RECONFIG_ID=" + strings.Join(ids, " "),
		"RECONFIG_TARGET=" + strings.Join(targets, " "),
		"RECONFIG_REVISION=" + strconv.FormatInt(p.Revision, 10),
	}
}

func parallel(outs []*Outcome, workers int, f func(*Outcome)) {
	switch len(outs) {
	case 0:
		return
	case 1:
		// One write (a watch cycle's usual lot): no goroutine to hand it
		// to and wait for.
		if outs[0].Err == nil {
			f(outs[0])
		}
		return
	}
	next := make(chan *Outcome)
	var wg sync.WaitGroup
	for range min(workers, len(outs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range next {
				if o.Err == nil {
					f(o)
				}
			}
		}()
	}
	for _, o := range outs {
		next <- o
	}
	close(next)
	wg.Wait()
}

// Record writes the result into the state: the revision, and for each
// binding the hash now on disk and the check and reload outcomes. Bindings
// the plan found already matching are recorded too, so that later edits by
// hand show as drift. Pruned targets leave the state. It reports whether
// the state must be saved: a file changed, the state is new, or a binding
// record changed (an apply that changes nothing and learns nothing new
// does not rewrite the state).
func (r *Result) Record(st *state.State, p *plan.Plan, now time.Time) (save bool) {
	if p.HasChanges() || !st.Exists() {
		// Saved whatever the records: no need to encode the state twice
		// to compare them.
		r.record(st, p, now)
		return true
	}
	before := st.Fingerprint()
	r.record(st, p, now)
	return st.Fingerprint() != before
}

func (r *Result) record(st *state.State, p *plan.Plan, now time.Time) {
	st.Revision = p.Revision
	if p.ClusterID != "" {
		st.ClusterID = p.ClusterID
	}
	for _, o := range r.Outcomes {
		ch := o.change
		rec := st.Bindings[o.ID]
		switch ch.Action {
		case plan.Delete:
			if !o.Changed {
				continue
			}
			if _, ok := st.Orphans[ch.Target]; ok {
				delete(st.Orphans, ch.Target)
			} else if rec != nil && rec.Target == ch.Target {
				delete(st.Bindings, o.ID)
			}
			continue
		case plan.NoOp, plan.Create, plan.Update:
		default:
			continue
		}
		if rec != nil && rec.Target != ch.Target {
			// The binding's target changed: the old one is an orphan now.
			old := *rec
			old.Binding = o.ID
			if st.Orphans == nil {
				st.Orphans = map[string]*state.Record{}
			}
			st.Orphans[old.Target] = &old
			rec = nil
		}
		delete(st.Orphans, ch.Target)
		if ch.Action == plan.NoOp {
			if rec == nil || rec.SHA256 != ch.BeforeHash || rec.Sensitive != ch.Sensitive {
				st.Bindings[o.ID] = &state.Record{Target: ch.Target, SHA256: ch.BeforeHash, Revision: p.Revision,
					AppliedAt: now, Check: state.OutcomeNone, Reload: state.OutcomeNone, Sensitive: ch.Sensitive}
			}
			continue
		}
		if rec == nil {
			rec = &state.Record{Target: ch.Target, SHA256: ch.BeforeHash}
			st.Bindings[o.ID] = rec
		}
		rec.Check, rec.Reload, rec.Error, rec.Sensitive = outcome(o.Check), outcome(o.Reload), "", ch.Sensitive
		if o.Changed {
			rec.SHA256, rec.Revision, rec.AppliedAt = ch.AfterHash, p.Revision, now
		}
		if o.Err != nil {
			rec.Error = o.Err.Error()
		}
		if rec.SHA256 == "" && !o.Changed {
			// A create that did not happen leaves nothing to record.
			delete(st.Bindings, o.ID)
		}
	}
}

func outcome(c *CommandResult) string {
	switch {
	case c == nil:
		return state.OutcomeNone
	case c.Err != nil:
		return state.OutcomeFailed
	}
	return state.OutcomeOK
}
