package engine

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/reconfig/reconfig/apply"
	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/plan"
	"github.com/reconfig/reconfig/state"
)

// Request is one operation against one state file.
type Request struct {
	// StatePath is the state file; its lock is state.LockPath(StatePath)
	// and its journal state.JournalPath(StatePath).
	StatePath string

	// Config is the configuration to plan; Set is the bindings of it to
	// plan (nil: all of them), and Partial says that Set was narrowed to
	// some bindings: targets recorded for the others are then not orphans.
	// Prune plans to delete orphaned targets instead of listing them.
	Config         *Config
	Set            *bindings.Set
	Partial, Prune bool
	// Snapshot reads the data to plan from. Apply calls it with the lock
	// held, so the plan is made from data read after any earlier apply.
	Snapshot func(ctx context.Context) (*snapshot.Snapshot, error)
	// Rendered, when set, is Set rendered from the snapshot Snapshot
	// returns (plan.Render), made before the lock: the plan only compares
	// it with the targets.
	Rendered map[string]*plan.Change

	// Saved, when set, is a plan read from a file (`plan --out`): Apply
	// executes exactly it, once it is checked against the state and the
	// bindings; Config, Set, Snapshot and Rendered are not used.
	Saved *Saved

	// Force uses a state recorded for another etcd cluster.
	Force bool
	// Confirm, when set, is asked about a plan with changes before
	// anything is written; an error stops the operation and is returned
	// as it is. It is given the run so far: the recovered entries and the
	// plan.
	Confirm func(*Run) error
	// Holder names the operation in the lock for whoever finds it held
	// ("apply", "watch"); LockWait is how long to wait for a lock another
	// process holds.
	Holder   string
	LockWait time.Duration
	// Locker, when set, takes the lock instead (a long-running process
	// that keeps the lock file open between operations); Holder is then
	// the locker's.
	Locker *state.Locker
	// ShowCommands shows check and reload commands instead of running
	// them.
	ShowCommands bool
	// States, when set, keeps the state between the operations of a
	// long-running process: it is read again only when another process
	// replaced the file.
	States *state.Cache
	// HoldInterrupts keeps SIGINT, SIGTERM and SIGHUP (the terminal or
	// the ssh session gone) from ending the process while the plan
	// executes (a command run from a terminal), and SIGPIPE (the reader
	// of the plan printed meanwhile gone: `apply --auto-approve | head`):
	// every write is atomic, but a check or reload skipped halfway would
	// leave a service on its old configuration and the state unrecorded.
	HoldInterrupts bool
}

// Saved is a plan read from a file.
type Saved struct {
	Plan *plan.Plan
	// Path is the file it was read from, for messages.
	Path string
	// CfgDir is the configuration directory whose bindings the plan must
	// still match.
	CfgDir string
}

// Run is what an operation did. An operation returns one even when it
// could not run, with what it did until then.
type Run struct {
	// Recovered are the targets an interrupted apply had installed before
	// their check, and what was done about them.
	Recovered []apply.Recovered
	// Plan is the plan made or applied; nil when the operation stopped
	// before it.
	Plan *plan.Plan
	// Mismatch (Plan only) is a state recorded for another etcd cluster:
	// the plan was made against a fresh state, so it reports no drift.
	Mismatch error
	// Result is what apply did; nil when nothing was executed.
	Result *apply.Result
	// State is the state after the operation; SerialBefore was its
	// serial before it.
	State        *state.State
	SerialBefore int64
	// SaveErr says why the state could not be recorded after the plan
	// was executed.
	SaveErr error
	// PlanTime is how long making the plan took (rendering too, unless
	// Request.Rendered held the render); ApplyTime how long executing it
	// and recording the state took.
	PlanTime, ApplyTime time.Duration
}

// Step is a step before the plan that can keep an operation from running.
type Step int

// The steps, in their order.
const (
	// StepLock takes the state lock.
	StepLock Step = iota + 1
	// StepRecover finishes an interrupted apply.
	StepRecover
	// StepState loads the state and checks that it was recorded for the
	// etcd cluster that answers.
	StepState
)

func (s Step) String() string {
	switch s {
	case StepLock:
		return "cannot take the state lock"
	case StepRecover:
		return "cannot finish an interrupted apply"
	case StepState:
		return "the state cannot be used"
	}
	return fmt.Sprintf("step %d", int(s))
}

// Blocked is an operation that a step before the plan kept from running.
// Its text is the step's error's: a command reports that error as it is,
// and the daemon says which step it was.
type Blocked struct {
	Step Step
	Err  error
}

func (b *Blocked) Error() string { return b.Err.Error() }
func (b *Blocked) Unwrap() error { return b.Err }

// Plan makes the plan of req without the state lock and writes nothing.
// A state recorded for another etcd cluster (unless req.Force) is reported
// in Run.Mismatch, and the plan made against a fresh state.
func Plan(ctx context.Context, req Request) (*Run, error) {
	run := &Run{}
	st, err := req.loadState()
	if err != nil {
		return run, err
	}
	snap, err := req.Snapshot(ctx)
	if err != nil {
		return run, err
	}
	if err := st.CheckCluster(req.StatePath, snap.ClusterID, req.Force); err != nil {
		run.Mismatch = err
		st = state.New()
	}
	run.State, run.SerialBefore = st, st.Serial
	run.Plan = req.makePlan(ctx, run, snap, st)
	return run, nil
}

// Apply runs one apply cycle of req under the state lock: it plans (or
// checks the saved plan), asks req.Confirm about a plan with changes, and
// executes the plan and records its outcome in the state. The error says
// why the cycle could not run; what the plan's execution did, failures
// included, is in Run.Result, and a state that could not be saved in
// Run.SaveErr.
func Apply(ctx context.Context, req Request) (*Run, error) {
	run := &Run{}
	var lock *state.Lock
	var err error
	if req.Locker != nil {
		lock, err = req.Locker.Acquire(ctx, req.LockWait)
	} else {
		lock, err = state.Acquire(ctx, req.StatePath, req.Holder, req.LockWait)
	}
	if err != nil {
		return run, &Blocked{Step: StepLock, Err: err}
	}
	defer lock.Release()
	run.Recovered, err = apply.Recover(req.StatePath)
	if err != nil {
		return run, &Blocked{Step: StepRecover, Err: err}
	}
	st, err := req.loadState()
	if err != nil {
		return run, &Blocked{Step: StepState, Err: err}
	}
	run.State, run.SerialBefore = st, st.Serial

	if req.Saved != nil {
		if err := req.checkSaved(st); err != nil {
			return run, err
		}
		run.Plan = req.Saved.Plan
	} else {
		snap, err := req.Snapshot(ctx)
		if err != nil {
			return run, err
		}
		if err := st.CheckCluster(req.StatePath, snap.ClusterID, req.Force); err != nil {
			return run, &Blocked{Step: StepState, Err: err}
		}
		run.Plan = req.makePlan(ctx, run, snap, st)
	}
	if run.Plan.HasChanges() && req.Confirm != nil {
		if err := req.Confirm(run); err != nil {
			return run, err
		}
	}

	// From here the cycle finishes even when the caller is told to stop.
	if req.HoldInterrupts {
		sig := make(chan os.Signal, 1)
		// A write to a reader that is gone fails (EPIPE) instead.
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
		defer signal.Stop(sig)
	}
	start := time.Now()
	run.Result = apply.Execute(context.WithoutCancel(ctx), run.Plan,
		apply.Options{Journal: state.JournalPath(req.StatePath), ShowCommands: req.ShowCommands, Resweep: lock.Interrupted()})
	// An operation that records nothing new leaves the file as it is; a
	// cached state then runs ahead of it only in its revision, which the
	// next save writes.
	if run.Result.Record(st, run.Plan, time.Now().UTC()) {
		run.SaveErr = req.saveState(st)
	}
	run.ApplyTime = time.Since(start)
	return run, nil
}

// checkSaved refuses a saved plan that no longer fits: the state moved, a
// target changed, the bindings differ, or the state is another cluster's.
func (req *Request) checkSaved(st *state.State) error {
	s := req.Saved
	set, err := bindings.Load(s.CfgDir)
	if err != nil {
		return hint.Wrap(fmt.Errorf("a saved plan is checked against the bindings, and they cannot be loaded: %w", err), "fix the bindings (`reconfig validate`), or pass the --cfgdir the plan was made with")
	}
	if err := s.Plan.CheckFresh(s.Path, st); err != nil {
		return err
	}
	if err := s.Plan.Verify(s.Path, set, st); err != nil {
		return err
	}
	// A plan saved by a reconfig that let a binding write its own files.
	reserved := plan.ReservedFor(set, req.StatePath)
	for _, ch := range s.Plan.Changes {
		if ch.Action.Changes() {
			if err := reserved.Check(ch.Target); err != nil {
				return &plan.FileError{Path: s.Path, Msg: fmt.Sprintf("change %q: %v", ch.ID, err)}
			}
		}
	}
	if err := st.CheckCluster(req.StatePath, s.Plan.ClusterID, req.Force); err != nil {
		return &Blocked{Step: StepState, Err: err}
	}
	return nil
}

// makePlan renders (unless req.Rendered holds the render) and plans
// req's bindings from snap against st.
func (req *Request) makePlan(ctx context.Context, run *Run, snap *snapshot.Snapshot, st *state.State) *plan.Plan {
	start := time.Now()
	set := req.Set
	if set == nil {
		set = req.Config.Set
	}
	rendered := req.Rendered
	if rendered == nil {
		rendered = plan.Render(ctx, set, req.Config.Templates, snap)
	}
	p := plan.Make(plan.Input{Set: set, Templates: req.Config.Templates, Snapshot: snap, State: st,
		Partial: req.Partial, Prune: req.Prune, Rendered: rendered, StatePath: req.StatePath})
	run.PlanTime = time.Since(start)
	return p
}

func (req *Request) loadState() (*state.State, error) {
	if req.States != nil {
		return req.States.Load(req.StatePath)
	}
	return state.Load(req.StatePath)
}

func (req *Request) saveState(st *state.State) error {
	if req.States != nil {
		return req.States.Save(st, req.StatePath)
	}
	return st.Save(req.StatePath)
}
