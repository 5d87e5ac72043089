// Package hint attaches to an error the line that tells the operator what
// to do about it, and finds that line again for the view, which prints it
// as `hint: ...` under the error.
//
// An error has a hint in one of two ways, both seen by Of: Wrap gives one
// to an error where the case is decided (the same kind of error may need
// different advice in different places), and an error type whose advice is
// the same wherever it is made implements Hinter itself, declared with
// `var _ hint.Hinter = (*T)(nil)` beside it.
package hint
