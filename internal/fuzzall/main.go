// Command fuzzall runs every Fuzz target of the module for a bounded time
// each (go test -fuzz accepts one target per run). `make fuzz` calls it.
//
//	go run ./internal/fuzzall [-fuzztime 20s] [packages]
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

func main() {
	fuzztime := flag.Duration("fuzztime", 20*time.Second, "time per fuzz target")
	flag.Parse()
	pkgs := flag.Args()
	if len(pkgs) == 0 {
		pkgs = []string{"./..."}
	}
	if err := run(*fuzztime, pkgs); err != nil {
		fmt.Fprintln(os.Stderr, "fuzzall:", err)
		os.Exit(1)
	}
}

func run(fuzztime time.Duration, pkgs []string) error {
	// `go test -list` prints the matching names, then "ok <pkg> ..." per package.
	out, err := exec.Command("go", append([]string{"test", "-run", "^$", "-list", "^Fuzz"}, pkgs...)...).Output()
	if err != nil {
		return fmt.Errorf("listing fuzz targets: %w", err)
	}
	type target struct{ pkg, name string }
	var targets, pending []target
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Fuzz"):
			pending = append(pending, target{name: line})
		case strings.HasPrefix(line, "ok "):
			f := strings.Fields(line)
			for _, t := range pending {
				targets = append(targets, target{pkg: f[1], name: t.name})
			}
			pending = nil
		}
	}
	if len(targets) == 0 {
		return fmt.Errorf("no fuzz targets found")
	}
	var failed []string
	for _, t := range targets {
		fmt.Printf("fuzzall: %s %s for %v\n", t.pkg, t.name, fuzztime)
		start := time.Now()
		cmd := exec.Command("go", "test", "-run", "^$", "-fuzz", "^"+t.name+"$", "-fuzztime", fuzztime.String(), t.pkg)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			failed = append(failed, t.pkg+"."+t.name)
		}
		fmt.Printf("fuzzall: %s %s done in %v\n", t.pkg, t.name, time.Since(start).Round(time.Second))
	}
	fmt.Printf("fuzzall: %d targets, %d failed\n", len(targets), len(failed))
	if len(failed) > 0 {
		return fmt.Errorf("failing targets: %s", strings.Join(failed, ", "))
	}
	return nil
}
