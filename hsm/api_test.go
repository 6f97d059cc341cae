package hsm_test

import (
	"testing"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/hsmtest"
)

func TestAPI(t *testing.T) {
	hsmtest.Run(t, func(t testing.TB, cfg hsm.Config) hsm.API {
		c, err := hsm.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}
