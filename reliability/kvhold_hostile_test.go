package reliability

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// Someone deletes the held key (`etcdctl del`, a clean-up script) while
// `kv set --keepalive` runs: its lease is alive, so nothing else tells the
// holder. It sets the key again at once and says so (before: the key
// stayed gone while the holder logged nothing, and the node was missing
// from every config built from the prefix). A value set by someone else
// is theirs: the holder says so and leaves it — two holders of one key
// setting it back would overwrite each other for good — and sets its own
// again once that is deleted.
func TestKVHoldKeyDeletedBySomeoneElse(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	h := startHold(t, srv.ClientURL, "60s")
	first := awaitAnnounced(t, c, "the node to announce itself", 30*time.Second)
	h.awaitLog("holding the key until stopped", 1, 30*time.Second)

	if _, err := c.Delete(context.Background(), announceKey, false); err != nil {
		t.Fatal(err)
	}
	again := awaitAnnounced(t, c, "the key set again after its deletion", 20*time.Second)
	h.awaitLog("the key was deleted by someone else; setting it again", 1, 5*time.Second)
	if again.ModRevision <= first.ModRevision || again.Lease != first.Lease {
		t.Fatalf("the key set again: revision %d lease %x, first revision %d lease %x", again.ModRevision, again.Lease, first.ModRevision, first.Lease)
	}

	theirs := etcdtest.PutEventually(t, c, announceKey, "10.9.9.9:1")
	h.awaitLog("the key was replaced by someone else", 1, 20*time.Second)
	if e, ok := entry(t, c); !ok || e.ModRevision != theirs {
		t.Fatalf("the holder overwrote a value someone else set: %+v", e)
	}
	if _, err := c.Delete(context.Background(), announceKey, false); err != nil {
		t.Fatal(err)
	}
	awaitAnnounced(t, c, "the key set again after the other value was deleted", 20*time.Second)
	h.awaitLog("the key was deleted by someone else; setting it again", 2, 5*time.Second)
	if strings.Count(h.log.String(), "holding the key until stopped") != 1 {
		t.Errorf("the holder started over:\n%s", h.log.String())
	}
}
