// etcd for the e2e cluster: the upstream server, at the version the pinned
// Kubernetes release is tested with, built through the Go module proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
