// Command oneshot is the one-shot floor: one range read of a prefix of
// keys PREFIX/NNNNN/KEY, then, 16 at a time, OUT/bNNNNN.conf written
// durably for each NNNNN with "backend bNNNNN.json" (the binding id) and a line
// "    server KEY VALUE" per key in order (what reconfig renders with
// the scale benchmarks' template), then the directory fsynced once.
//
//	oneshot -endpoint URL -prefix /svc -out DIR
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
)

const workers = 16

func main() {
	endpoint := flag.String("endpoint", "", "etcd client URL")
	prefix := flag.String("prefix", "", "key prefix: PREFIX/NNNNN/KEY")
	out := flag.String("out", "", "directory of the targets")
	flag.Parse()
	if err := run(*endpoint, *prefix, *out); err != nil {
		fmt.Fprintln(os.Stderr, "floor oneshot:", err)
		os.Exit(1)
	}
}

func run(endpoint, prefix, out string) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}})
	if err != nil {
		return err
	}
	defer cli.Close()
	resp, err := cli.Get(context.Background(), prefix+"/", clientv3.WithPrefix())
	if err != nil {
		return err
	}
	// The keys come sorted: each binding's keys are one run of them.
	type binding struct {
		id    string
		lines []string
	}
	var all []*binding
	for _, kv := range resp.Kvs {
		id, k, _ := strings.Cut(strings.TrimPrefix(string(kv.Key), prefix+"/"), "/")
		if len(all) == 0 || all[len(all)-1].id != id {
			all = append(all, &binding{id: id})
		}
		b := all[len(all)-1]
		b.lines = append(b.lines, "    server "+path.Base(k)+" "+string(kv.Value)+"\n")
	}
	jobs := make(chan *binding)
	errs := make(chan error, len(all))
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				sort.Strings(b.lines)
				data := "backend b" + b.id + ".json\n" + strings.Join(b.lines, "")
				errs <- write(filepath.Join(out, "b"+b.id+".conf"), []byte(data))
			}
		}()
	}
	for _, b := range all {
		jobs <- b
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return syncDir(out)
}

// write replaces target durably but for its directory: a temporary file
// beside it, written, fsynced, renamed over it.
func write(target string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(target), ".floor-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), target)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
