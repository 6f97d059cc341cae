package admin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cofferhsm/coffer/internal/atomicfile"
)

// writeFileAtomic replaces path with data (mode perm); see atomicfile.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := atomicfile.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// writeNew creates path with data and mode perm, failing with ErrExists
// when it exists (O_EXCL: never overwrites, never follows a symlink).
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%w: %s", ErrExists, path)
	}
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("admin: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("admin: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	return nil
}

// writeSet writes files (name → content) into dir (created 0700) with
// writeNew. It checks first that none exists, writes keys (mode 0600)
// before certificates, and removes what it wrote when a write fails.
func writeSet(dir string, files []outFile) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	for _, f := range files {
		if err := checkAbsent(dir, []string{f.name}); err != nil {
			return err
		}
	}
	var done []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := writeNew(p, f.data, f.perm); err != nil {
			for _, d := range done {
				os.Remove(d)
			}
			return err
		}
		done = append(done, p)
	}
	return nil
}

type outFile struct {
	name string
	data []byte
	perm os.FileMode
}

// readFile reads a regular file of at most limit bytes. When private is
// set, the file must not be accessible to group or others.
func readFile(path string, private bool, limit int64) ([]byte, error) {
	b, err := atomicfile.ReadFile(path, private, limit)
	if errors.Is(err, atomicfile.ErrUnsafe) {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return b, err
}
