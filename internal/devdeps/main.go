// Command devdeps installs the Debian packages that Coffer's build, tests
// and runner need, when they are missing. It uses apt-get, through sudo when
// not running as root. `make test` and `make run` call it first.
//
//	go run ./internal/devdeps [-n] [GROUP...]
//
// Groups: test (default), run.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
)

// packages lists, per group, Debian packages and one file each provides
// (used to tell whether it is installed without asking dpkg).
var packages = map[string]map[string]string{
	"test": {
		"swtpm":           "/usr/bin/swtpm",
		"swtpm-tools":     "/usr/bin/swtpm_setup",
		"qemu-system-x86": "/usr/bin/qemu-system-x86_64",
		"python3-pykmip":  "/usr/bin/pykmip-server",
		"kmod":            "/usr/sbin/depmod",
		"e2fsprogs":       "/usr/sbin/mke2fs",
		"iproute2":        "/usr/sbin/ip",
	},
	"run": {
		"swtpm":           "/usr/bin/swtpm",
		"swtpm-tools":     "/usr/bin/swtpm_setup",
		"qemu-system-x86": "/usr/bin/qemu-system-x86_64",
		"kmod":            "/usr/sbin/depmod",
		"e2fsprogs":       "/usr/sbin/mke2fs",
	},
}

func main() {
	dry := flag.Bool("n", false, "print what would be installed, install nothing")
	flag.Parse()
	groups := flag.Args()
	if len(groups) == 0 {
		groups = []string{"test"}
	}
	if err := run(groups, *dry); err != nil {
		fmt.Fprintln(os.Stderr, "devdeps:", err)
		os.Exit(1)
	}
}

func run(groups []string, dry bool) error {
	want := map[string]bool{}
	for _, g := range groups {
		pkgs, ok := packages[g]
		if !ok {
			return fmt.Errorf("unknown group %q (have: test, run)", g)
		}
		for pkg, file := range pkgs {
			if _, err := os.Stat(file); err != nil {
				want[pkg] = true
			}
		}
	}
	if len(want) == 0 {
		return nil
	}
	var missing []string
	for p := range want {
		missing = append(missing, p)
	}
	sort.Strings(missing)
	fmt.Printf("devdeps: installing %s\n", strings.Join(missing, " "))
	if dry {
		return nil
	}
	var prefix []string
	if os.Geteuid() != 0 {
		prefix = []string{"sudo"}
	}
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	update := exec.Command(prefix0(prefix, "apt-get"), args(prefix, "apt-get", "update", "-qq")...)
	update.Env, update.Stdout, update.Stderr = env, os.Stdout, os.Stderr
	if err := update.Run(); err != nil {
		return fmt.Errorf("apt-get update: %w", err)
	}
	inst := exec.Command(prefix0(prefix, "apt-get"), args(prefix, "apt-get", append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)...)...)
	inst.Env, inst.Stdout, inst.Stderr = env, os.Stdout, os.Stderr
	if err := inst.Run(); err != nil {
		return fmt.Errorf("apt-get install: %w", err)
	}
	return nil
}

func prefix0(prefix []string, cmd string) string {
	if len(prefix) > 0 {
		return prefix[0]
	}
	return cmd
}

func args(prefix []string, cmd string, rest ...string) []string {
	if len(prefix) > 0 {
		return append(append(prefix[1:], cmd), rest...)
	}
	return rest
}
