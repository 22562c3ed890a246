// Command bundleedit rewrites an OCI bundle's config.json for the latency
// benchmark: another rootfs, cgroup path and command, no terminal, and no
// bind mounts below /etc (they point into a container's own directory).
// jq cannot do it: jq 1.6 turns the seccomp masks (64-bit integers) into
// floats, which runc then refuses.
//
//	go run ./bench/bundleedit -root DIR -cgroup PATH IN OUT -- echo hi
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func main() {
	root := flag.String("root", "", "rootfs path")
	cgroup := flag.String("cgroup", "", "cgroups path")
	flag.Parse()
	if flag.NArg() < 3 {
		fmt.Fprintln(os.Stderr, "usage: bundleedit -root DIR -cgroup PATH IN OUT CMD...")
		os.Exit(2)
	}
	in, out, args := flag.Arg(0), flag.Arg(1), flag.Args()[2:]
	b, err := os.ReadFile(in)
	check(err)
	var s specs.Spec
	check(json.Unmarshal(b, &s))
	if *root != "" {
		s.Root.Path = *root
	}
	if *cgroup != "" && s.Linux != nil {
		s.Linux.CgroupsPath = *cgroup
	}
	s.Process.Args, s.Process.Terminal = args, false
	mounts := s.Mounts[:0]
	for _, m := range s.Mounts {
		if !strings.HasPrefix(m.Destination, "/etc/") {
			mounts = append(mounts, m)
		}
	}
	s.Mounts = mounts
	b, err = json.Marshal(&s)
	check(err)
	check(os.WriteFile(out, b, 0o644))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bundleedit:", err)
		os.Exit(1)
	}
}
