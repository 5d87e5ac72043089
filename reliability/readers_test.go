//go:build linux

package reliability

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// readerContent is the target for generation gen: about 60 KiB, every line
// naming the generation, between BEGIN and END lines.
func readerContent(gen int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "BEGIN %06d\n", gen)
	for l := 1; l <= 2000; l++ {
		fmt.Fprintf(&b, "%06d line %d ................\n", gen, l)
	}
	fmt.Fprintf(&b, "END %06d\n", gen)
	return b.String()
}

// Concurrent readers: `reconfig watch` rewrites a 60 KiB target on each of
// 10,000 etcd updates (1,000 in `make test`), one at a time — the test
// awaits the rename of each before the next put — while readers read it
// as fast as they can, whole or in 4 KiB pieces. No read ever sees an
// empty, partial or mixed file, or a generation older than one it saw
// before.
func TestReadersDuringUpdates(t *testing.T) {
	updates := size(1000, 10000)
	srv := etcdtest.Start(t)
	ctx := context.Background()
	if _, err := srv.Put(ctx, "/r/n", fmt.Sprintf("%06d", 0)); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, srv.ClientURL)
	f.write("templates/r.tmpl", `{{$v := getv "/r/n"}}BEGIN {{$v}}
{{range seq 1 2000}}{{$v}} line {{.}} ................
{{end}}END {{$v}}
`)
	f.binding("r", map[string]any{"key": "/r/n", "source": "r.tmpl", "target": "$OUT/r.conf"})
	target := f.target("r.conf")
	events := watchDir(t, f.out)
	d := f.startWatch()
	awaitContent(t, target, readerContent(0), 20*time.Second)

	// check judges one read: a whole file of one generation, not older
	// than the last one this reader saw.
	check := func(data []byte, last *int) error {
		first, _, ok := bytes.Cut(data, []byte("\n"))
		if !ok || !bytes.HasPrefix(first, []byte("BEGIN ")) {
			return fmt.Errorf("read %d bytes that do not start with a BEGIN line: %.80q", len(data), data)
		}
		gen, err := strconv.Atoi(string(first[len("BEGIN "):]))
		if err != nil {
			return fmt.Errorf("bad BEGIN line %q", first)
		}
		if string(data) != readerContent(gen) {
			return fmt.Errorf("read %d bytes of generation %d that are not its whole content (partial or mixed)", len(data), gen)
		}
		if gen < *last {
			return fmt.Errorf("read generation %d after %d", gen, *last)
		}
		*last = gen
		return nil
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads atomic.Int64
	errs := make(chan error, 2)
	readers := map[string]func() ([]byte, error){
		"whole": func() ([]byte, error) { return os.ReadFile(target) },
		"in 4 KiB pieces": func() ([]byte, error) {
			fh, err := os.Open(target)
			if err != nil {
				return nil, err
			}
			defer fh.Close()
			var buf bytes.Buffer
			_, err = io.CopyBuffer(&buf, bufio.NewReaderSize(fh, 4096), make([]byte, 4096))
			return buf.Bytes(), err
		},
	}
	for name, read := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := 0
			for {
				select {
				case <-stop:
					return
				default:
				}
				data, err := read()
				if err == nil {
					err = check(data, &last)
				}
				if err != nil {
					errs <- fmt.Errorf("reader %s: %w", name, err)
					return
				}
				reads.Add(1)
			}
		}()
	}

	start := time.Now()
	for gen := 1; gen <= updates; gen++ {
		from := events.mark()
		if _, err := srv.Put(ctx, "/r/n", fmt.Sprintf("%06d", gen)); err != nil {
			t.Fatal(err)
		}
		if events.wait(from, func(e dirEvent) bool {
			return e.Name == "r.conf" && e.Mask&(syscall.IN_MOVED_TO|syscall.IN_CLOSE_WRITE) != 0
		}, nil, 30*time.Second) < 0 {
			t.Fatalf("update %d: the daemon did not replace the target within 30s", gen)
		}
		select {
		case err := <-errs:
			close(stop)
			wg.Wait()
			t.Fatal(err)
		default:
		}
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if got := readFile(t, target); got != readerContent(updates) {
		t.Fatalf("the target does not hold the last generation %d", updates)
	}
	// Each write is logged after its rename: the last one may still come.
	d.awaitLog(`msg="target updated"`, updates, 30*time.Second)
	t.Logf("%d updates in %s, each written by the daemon; %d whole reads checked", updates, time.Since(start).Round(time.Millisecond), reads.Load())
	if reads.Load() < int64(updates) {
		t.Fatalf("only %d reads during %d updates: the readers did not race the writer", reads.Load(), updates)
	}
}
