// Command init is the appliance's PID 1. All logic lives in package boot.
package main

import (
	"fmt"
	"os"

	"github.com/cofferhsm/coffer/boot"
)

func main() {
	err := boot.Run(boot.Config{})
	fmt.Fprintf(os.Stderr, "coffer: init: %v\n", err)
	select {} // PID 1 must not exit: the kernel would panic.
}
