// Package view renders reconfig's values for people and machines: a Plan
// as colored unified diffs or as one JSON document, an apply Result, what
// every other command found or did, and errors in the `reconfig: error:` /
// `hint:` style. A command hands its outcome to a View (one method per
// outcome, in a file per command; a human and a JSON implementation where
// the command has --json). It is the only package that imports fatih/color
// and gotextdiff, and it never decides anything: the same value becomes
// text or JSON.
package view
