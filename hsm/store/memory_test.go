package store_test

import (
	"testing"

	"github.com/cofferhsm/coffer/hsm/store"
	"github.com/cofferhsm/coffer/hsm/store/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.DB { return store.NewMemory() })
}
