package boot

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/boot/supervise"
	"github.com/google/go-cmp/cmp"
)

const sampleDep = `kernel/fs/ext4/ext4.ko: kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko kernel/lib/crc16.ko
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/lib/crc16.ko:
kernel/drivers/md/dm-crypt.ko: kernel/drivers/md/dm-mod.ko
kernel/drivers/md/dm-mod.ko:
kernel/crypto/xts.ko.xz:
`

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/drivers/md/dm-crypt.ko": "dm_crypt",
		"virtio-rng":                    "virtio_rng",
		"xts.ko.xz":                     "xts",
		"ext4":                          "ext4",
	} {
		if got := ModuleName(in); got != want {
			t.Errorf("ModuleName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLoadOrder(t *testing.T) {
	md, err := ParseModulesDep(strings.NewReader(sampleDep))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		names []string
		want  []string
		err   error
	}{
		{[]string{"ext4"}, []string{"crc16", "jbd2", "mbcache", "ext4"}, nil},
		{[]string{"dm-crypt", "dm_mod", "xts"}, []string{"dm_mod", "dm_crypt", "xts"}, nil},
		{[]string{"ext4", "crc16"}, []string{"crc16", "jbd2", "mbcache", "ext4"}, nil},
		{[]string{"nosuch"}, nil, ErrUnknownModule},
	}
	for _, tt := range tests {
		got, err := md.LoadOrder(tt.names...)
		if !errors.Is(err, tt.err) {
			t.Errorf("LoadOrder(%q) error %v, want %v", tt.names, err, tt.err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("LoadOrder(%q) (-want +got):\n%s", tt.names, diff)
		}
	}
	if p := md.Path["dm_crypt"]; p != "kernel/drivers/md/dm-crypt.ko" {
		t.Errorf("path %q", p)
	}
}

func TestLoadOrderCycle(t *testing.T) {
	md, err := ParseModulesDep(strings.NewReader("a.ko: b.ko\nb.ko: a.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := md.LoadOrder("a"); !errors.Is(err, ErrModuleCycle) {
		t.Errorf("error %v, want ErrModuleCycle", err)
	}
}

func TestParseModulesDepRejects(t *testing.T) {
	for _, in := range []string{
		"no colon here\n",
		"/abs/x.ko:\n",
		"../x.ko:\n",
		"notamodule: a.ko\n",
		strings.Repeat("a.ko:\n", MaxModulesDep/6+1),
	} {
		if _, err := ParseModulesDep(strings.NewReader(in)); err == nil {
			t.Errorf("ParseModulesDep(%.20q…) succeeded", in)
		}
	}
}

func TestLoadModulesMissingDep(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadModules(dir, "ext4"); err == nil {
		t.Fatal("LoadModules without modules.dep succeeded")
	}
	if err := os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(sampleDep), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadModules(dir, "nosuch"); !errors.Is(err, ErrUnknownModule) {
		t.Fatalf("error %v, want ErrUnknownModule", err)
	}
}

func event(typ, code uint16, value int32) []byte {
	b := make([]byte, inputEventSize)
	binary.LittleEndian.PutUint16(b[16:], typ)
	binary.LittleEndian.PutUint16(b[18:], code)
	binary.LittleEndian.PutUint32(b[20:], uint32(value))
	return b
}

func TestIsPowerPress(t *testing.T) {
	tests := []struct {
		ev   []byte
		want bool
	}{
		{event(evKey, keyPower, 1), true},
		{event(evKey, keyPower, 0), false}, // release
		{event(evKey, 30, 1), false},       // KEY_A
		{event(0, 0, 0), false},            // EV_SYN
		{event(evKey, keyPower, 1)[:20], false},
	}
	for i, tt := range tests {
		if got := isPowerPress(tt.ev); got != tt.want {
			t.Errorf("case %d: isPowerPress = %v, want %v", i, got, tt.want)
		}
	}
}

func TestPowerButtons(t *testing.T) {
	sys := t.TempDir()
	for ev, name := range map[string]string{"event0": "Power Button", "event1": "AT Keyboard", "event2": "Power Button"} {
		d := filepath.Join(sys, "class/input", ev, "device")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "name"), []byte(name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"/dev/input/event0", "/dev/input/event2"}
	if diff := cmp.Diff(want, powerButtons(sys)); diff != "" {
		t.Error(diff)
	}
}

func TestSeedRNG(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "hwrng"), filepath.Join(dir, "urandom")
	if err := os.WriteFile(src, []byte(strings.Repeat("r", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, n, err := SeedRNG(src, dst, 64, time.Minute)
	if err != nil || n != 64 {
		t.Fatalf("SeedRNG = %d, %v", n, err)
	}
	if b, _ := os.ReadFile(dst); string(b) != strings.Repeat("r", 64) {
		t.Errorf("dst has %q", b)
	}
	if _, _, err := SeedRNG(filepath.Join(dir, "none"), dst, 64, time.Minute); err == nil {
		t.Error("SeedRNG from a missing device succeeded")
	}
	// A short source is an error, not a partial seed.
	if err := os.WriteFile(src, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := SeedRNG(src, dst, 64, time.Minute); err == nil {
		t.Error("SeedRNG from a short source succeeded")
	}
}

func TestRunTool(t *testing.T) {
	r, err := supervise.NewReaper(false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := RunTool(r, time.Minute, "/bin/sh", "-c", "echo out; echo err >&2")
	if err != nil || out != "out\nerr\n" {
		t.Errorf("RunTool = %q, %v", out, err)
	}
	if _, err := RunTool(r, time.Minute, "/bin/sh", "-c", "exit 3"); err == nil {
		t.Error("RunTool ignored exit 3")
	}
	if _, err := RunTool(r, 50*time.Millisecond, "/bin/sh", "-c", "sleep 30"); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("RunTool with a hung tool: %v", err)
	}
	out, err = RunTool(r, time.Minute, "/bin/sh", "-c", "head -c 200000 /dev/zero")
	if err != nil || len(out) != MaxToolOutput {
		t.Errorf("RunTool kept %d bytes, %v; want %d", len(out), err, MaxToolOutput)
	}
	if _, err := RunTool(r, time.Minute, filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("RunTool of a missing program succeeded")
	}
}
