// Package view renders reconfig's values for people and machines: a Plan
// as colored unified diffs or as one JSON document, an apply Result, and
// errors in the `reconfig: error:` / `hint:` style. It is the only package
// that imports fatih/color and gotextdiff, and it never decides anything:
// the same Plan value becomes text or JSON.
package view
