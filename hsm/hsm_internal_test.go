package hsm

import (
	"errors"
	"hash/maphash"
	"testing"

	"github.com/cofferhsm/coffer/hsm/object"
)

var alice = Identity{Name: "alice", Groups: []string{"vcenter"}}

func aesAttrs(extra ...object.Attribute) []object.Attribute {
	return append([]object.Attribute{
		{Name: object.AttrAlgorithm, Value: object.AlgAES},
		{Name: object.AttrLength, Value: int32(256)},
		{Name: object.AttrUsageMask, Value: object.UsageMaskCrypto},
	}, extra...)
}

func TestNewValidation(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("New(empty) = %v", err)
	}
}

func TestLockStripes(t *testing.T) {
	c := &Core{seed: maphash.MakeSeed()}
	// Locking the same UID twice in one call must not deadlock, and
	// overlapping sets must be taken in a consistent order.
	unlock := c.lock("a", "a", "b")
	unlock()
	done := make(chan bool)
	go func() {
		for range 1000 {
			c.lock("x", "y")()
		}
		done <- true
	}()
	for range 1000 {
		c.lock("y", "x")()
	}
	<-done
}
