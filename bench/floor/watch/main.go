// Command watch is the watch floor: it watches one prefix of keys
// PREFIX/NNN/KEY and, on each event, writes OUT/bNNN.conf durably with
// the lines "KEY=VALUE" of its keys in order (what reconfig renders with
// {{range $k, $v := .Data}}{{base $k}}={{$v}}\n{{end}}), then prints the
// event's revision on stdout once the directory is fsynced.
//
//	watch -endpoint URL -prefix /floor -out DIR
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

	clientv3 "go.etcd.io/etcd/client/v3"
)

func main() {
	endpoint := flag.String("endpoint", "", "etcd client URL")
	prefix := flag.String("prefix", "", "key prefix: PREFIX/NNN/KEY")
	out := flag.String("out", "", "directory of the targets")
	flag.Parse()
	if err := run(*endpoint, *prefix, *out); err != nil {
		fmt.Fprintln(os.Stderr, "floor watch:", err)
		os.Exit(1)
	}
}

func run(endpoint, prefix, out string) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}})
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx := context.Background()
	resp, err := cli.Get(ctx, prefix+"/", clientv3.WithPrefix())
	if err != nil {
		return err
	}
	// bindings[NNN][KEY] = VALUE
	bindings := map[string]map[string]string{}
	set := func(key, value string) string {
		id, k, _ := strings.Cut(strings.TrimPrefix(key, prefix+"/"), "/")
		if bindings[id] == nil {
			bindings[id] = map[string]string{}
		}
		bindings[id][path.Base(k)] = value
		return id
	}
	for _, kv := range resp.Kvs {
		set(string(kv.Key), string(kv.Value))
	}
	fmt.Println("ready", resp.Header.Revision)
	for wr := range cli.Watch(ctx, prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1)) {
		if err := wr.Err(); err != nil {
			return err
		}
		for _, ev := range wr.Events {
			id := set(string(ev.Kv.Key), string(ev.Kv.Value))
			if err := write(filepath.Join(out, "b"+id+".conf"), render(bindings[id])); err != nil {
				return err
			}
			if err := syncDir(out); err != nil {
				return err
			}
			fmt.Println(ev.Kv.ModRevision)
		}
	}
	return ctx.Err()
}

func render(kv map[string]string) []byte {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + kv[k] + "\n")
	}
	return []byte(b.String())
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
