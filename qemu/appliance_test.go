package qemu

import (
	"context"
	"strings"
	"testing"
)

func TestEnrollment(t *testing.T) {
	vm := &VM{changed: make(chan struct{})}
	if _, ok := vm.Enrollment(); ok {
		t.Error("enrollment found on an empty console")
	}
	vm.lines = []string{
		"coffer: data disk mounted at /data",
		"coffer: admin enrollment token (one use): ABCD-EFGH-IJKL",
		"coffer: appliance CA sha256: 00ff",
		"kmipd: listening on :5696",
	}
	e, ok := vm.Enrollment()
	if !ok || e.Token != "ABCD-EFGH-IJKL" || e.CAFingerprint != "00ff" {
		t.Errorf("Enrollment() = %+v, %v", e, ok)
	}
}

func TestRedactToken(t *testing.T) {
	line := "coffer: admin enrollment token (one use): ABCD-EFGH\n"
	got := redactToken(line)
	if strings.Contains(got, "ABCD") || !strings.HasPrefix(got, tokenPrefix) || !strings.HasSuffix(got, "\n") {
		t.Errorf("redactToken = %q", got)
	}
	if other := "coffer: ready\n"; redactToken(other) != other {
		t.Errorf("redactToken changed an ordinary line")
	}
}

func TestPowerOffWithoutVM(t *testing.T) {
	err := PowerOff(context.Background(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "is a VM running") {
		t.Errorf("PowerOff = %v", err)
	}
}
