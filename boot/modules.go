package boot

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// MaxModulesDep bounds the size of a modules.dep file read by ParseModulesDep.
const MaxModulesDep = 4 << 20

// ErrUnknownModule is returned when a module is not listed in modules.dep.
var ErrUnknownModule = errors.New("boot: unknown module")

// ErrModuleCycle is returned when modules.dep has a dependency cycle.
var ErrModuleCycle = errors.New("boot: module dependency cycle")

// ModuleName normalizes a module name or file path to the kernel's form:
// the base name without ".ko" (and any compression suffix), with dashes
// replaced by underscores. "kernel/drivers/md/dm-crypt.ko" → "dm_crypt".
func ModuleName(s string) string {
	s = path.Base(s)
	if i := strings.Index(s, ".ko"); i >= 0 {
		s = s[:i]
	}
	return strings.ReplaceAll(s, "-", "_")
}

// ModuleDeps is a parsed modules.dep: module name → its file path (relative
// to the modules directory) and the names of the modules it needs.
type ModuleDeps struct {
	Path map[string]string
	Deps map[string][]string
}

// ParseModulesDep parses the modules.dep format written by depmod:
// "path.ko: dep1.ko dep2.ko" per line. Input over MaxModulesDep bytes or
// malformed lines are rejected.
func ParseModulesDep(r io.Reader) (*ModuleDeps, error) {
	md := &ModuleDeps{Path: map[string]string{}, Deps: map[string][]string{}}
	sc := bufio.NewScanner(io.LimitReader(r, MaxModulesDep+1))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	n, total := 0, 0
	for sc.Scan() {
		n++
		line := sc.Text()
		total += len(line) + 1
		if total > MaxModulesDep {
			return nil, fmt.Errorf("boot: modules.dep larger than %d bytes", MaxModulesDep)
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		file, deps, ok := strings.Cut(line, ":")
		file = strings.TrimSpace(file)
		if !ok || file == "" || !strings.Contains(path.Base(file), ".ko") || path.IsAbs(file) || strings.Contains(file, "..") {
			return nil, fmt.Errorf("boot: modules.dep line %d malformed", n)
		}
		name := ModuleName(file)
		md.Path[name] = file
		var names []string
		for _, d := range strings.Fields(deps) {
			names = append(names, ModuleName(d))
		}
		md.Deps[name] = names
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("boot: reading modules.dep: %w", err)
	}
	return md, nil
}

// LoadOrder returns the modules needed for names, each after all of its
// dependencies, without duplicates.
func (md *ModuleDeps) LoadOrder(names ...string) ([]string, error) {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var order []string
	var visit func(n string, depth int) error
	visit = func(n string, depth int) error {
		switch state[n] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("%w at %s", ErrModuleCycle, n)
		}
		if _, ok := md.Path[n]; !ok {
			return fmt.Errorf("%w: %s", ErrUnknownModule, n)
		}
		if depth > len(md.Path) {
			return fmt.Errorf("%w at %s", ErrModuleCycle, n)
		}
		state[n] = visiting
		deps := append([]string(nil), md.Deps[n]...)
		sort.Strings(deps)
		for _, d := range deps {
			if err := visit(d, depth+1); err != nil {
				return err
			}
		}
		state[n] = done
		order = append(order, n)
		return nil
	}
	for _, n := range names {
		if err := visit(ModuleName(n), 0); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// LoadModules loads names and their dependencies from dir (a
// /lib/modules/<release> directory with a modules.dep) with finit_module.
// Modules already loaded or built in are skipped. It returns the modules it
// tried, in order, and the first error.
func LoadModules(dir string, names ...string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	defer f.Close()
	md, err := ParseModulesDep(f)
	if err != nil {
		return nil, err
	}
	order, err := md.LoadOrder(names...)
	if err != nil {
		return nil, err
	}
	for _, n := range order {
		if err := finit(filepath.Join(dir, filepath.FromSlash(md.Path[n]))); err != nil {
			return order, fmt.Errorf("boot: load module %s: %w", n, err)
		}
	}
	return order, nil
}

func finit(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}
