package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/image"
)

func TestVMAndImageUsage(t *testing.T) {
	tests := []struct {
		name string
		f    func(args []string) error
		args []string
	}{
		{"vm none", vmCmd, nil},
		{"vm unknown", vmCmd, []string{"start"}},
		{"vm run extra", vmCmd, []string{"run", "extra"}},
		{"vm run accel", vmCmd, []string{"run", "--accel", "hvf"}},
		{"vm stop extra", vmCmd, []string{"stop", "x"}},
		{"image none", imageCmd, nil},
		{"image unknown", imageCmd, []string{"flash"}},
		{"image size", imageCmd, []string{"build", "--data-size", "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ue *usageError
			if err := tt.f(tt.args); !errors.As(err, &ue) {
				t.Errorf("err = %v, want a usage error", err)
			}
		})
	}
}

func vmCmd(args []string) error {
	var out bytes.Buffer
	return runVM(context.Background(), strings.NewReader(""), &out, &out, args)
}

func imageCmd(args []string) error {
	var out bytes.Buffer
	return runImage(context.Background(), strings.NewReader(""), &out, &out, args)
}

func TestVMStopWithoutVM(t *testing.T) {
	var out bytes.Buffer
	err := runVM(context.Background(), strings.NewReader(""), &out, &out, []string{"stop", "--dir", t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "is a VM running") {
		t.Errorf("err = %v, want a clear error", err)
	}
}

func TestImageStale(t *testing.T) {
	src, img := t.TempDir(), t.TempDir()
	write := func(name string, mtime time.Time) {
		t.Helper()
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	write("go.mod", old)
	write("boot/boot.go", old)
	if stale, why, err := imageStale(img, src); err != nil || !stale || why != "no image yet" {
		t.Fatalf("no image: %v %q %v", stale, why, err)
	}
	man := filepath.Join(img, image.ManifestFile)
	if err := os.WriteFile(man, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if stale, why, err := imageStale(img, src); err != nil || stale {
		t.Fatalf("fresh image: %v %q %v", stale, why, err)
	}
	future := time.Now().Add(time.Hour)
	for _, ignored := range []string{"boot/boot_test.go", "var/vm/x.go", ".git/y.go", "README.md"} {
		write(ignored, future)
	}
	if stale, why, err := imageStale(img, src); err != nil || stale {
		t.Fatalf("ignored files made it stale: %v %q %v", stale, why, err)
	}
	write("firmware/cmd/kmipd/main.go", future)
	if stale, why, err := imageStale(img, src); err != nil || !stale || !strings.Contains(why, "kmipd") {
		t.Fatalf("changed source: %v %q %v", stale, why, err)
	}
}
