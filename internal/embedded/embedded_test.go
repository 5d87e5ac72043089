package embedded

import (
	"sync"
	"testing"
)

// Tests in parallel pick ports for servers they start later; a port picked
// twice makes the second server fail with "address already in use".
func TestFreeAddrNeverRepeats(t *testing.T) {
	const workers, each = 4, 750
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			for range each {
				addr := FreeAddr()
				mu.Lock()
				if prev, ok := seen[addr]; ok {
					t.Errorf("%s handed out twice (workers %d and %d)", addr, prev, w)
				}
				seen[addr] = w
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
