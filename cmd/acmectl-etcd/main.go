// Command acmectl-etcd is acmectl's etcd helper: acmectl starts it when a
// command is given --storage etcd:// and talks to it over stdin and stdout
// (internal/fleet/kv); it holds the etcd client so that acmectl itself
// links neither etcd nor grpc. It exits when its stdin ends, so it never
// outlives the acmectl that started it. It is not meant to be run by hand.
package main

import (
	"fmt"
	"os"

	"github.com/acmectl/acmectl/internal/fleet/etcdkv"
	"github.com/acmectl/acmectl/internal/fleet/kv"
)

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "acmectl-etcd: the etcd helper of acmectl, started by acmectl --storage etcd://; it takes no arguments")
		os.Exit(2)
	}
	err := kv.Serve(os.Stdin, os.Stdout, func(cfg kv.DialConfig) (kv.Backend, error) { return etcdkv.Dial(cfg) })
	if err != nil {
		fmt.Fprintf(os.Stderr, "acmectl-etcd: %v\n", err)
		os.Exit(1)
	}
	// stdin ended: acmectl closed the storage or died. Exit without
	// releasing anything: locks still held expire with their leases.
	os.Exit(0)
}
