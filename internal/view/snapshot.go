package view

import (
	"fmt"
	"strings"

	"github.com/reconfig/reconfig/internal/snapshot"
)

// SnapshotSaved says what `snapshot save` wrote to file, and which
// bindings' values it left out (those only sensitive bindings read).
func (v *View) SnapshotSaved(file string, snap *snapshot.Snapshot, leftOut []string) {
	fmt.Fprintf(v.stdout, "Saved %d key%s at etcd revision %d to %s.\n", snap.Len(), plural(snap.Len()), snap.Revision, file)
	if len(snap.Omitted) > 0 {
		fmt.Fprintf(v.stdout, "Left out the values only sensitive bindings read (%s): plan --snapshot does not render them; --include-sensitive keeps them.\n", strings.Join(leftOut, ", "))
	}
}
