package boot

import (
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Linux input event constants (linux/input-event-codes.h).
const (
	evKey    = 0x01
	keyPower = 116
	// inputEventSize is sizeof(struct input_event) on 64-bit Linux:
	// struct timeval (16) + type (2) + code (2) + value (4).
	inputEventSize = 24
)

// isPowerPress reports whether one raw input_event is a power key press.
func isPowerPress(ev []byte) bool {
	if len(ev) != inputEventSize {
		return false
	}
	typ := binary.LittleEndian.Uint16(ev[16:])
	code := binary.LittleEndian.Uint16(ev[18:])
	value := int32(binary.LittleEndian.Uint32(ev[20:]))
	return typ == evKey && code == keyPower && value == 1
}

// powerButtons returns the /dev/input/event* nodes whose device is named
// "Power Button", looking under sysfs root sys.
func powerButtons(sys string) []string {
	names, _ := filepath.Glob(filepath.Join(sys, "class/input/event*/device/name"))
	var out []string
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil || strings.TrimSpace(string(b)) != "Power Button" {
			continue
		}
		ev := filepath.Base(filepath.Dir(filepath.Dir(n)))
		out = append(out, filepath.Join("/dev/input", ev))
	}
	return out
}

// watchPowerButton sends on power when an ACPI power button is pressed.
func watchPowerButton(power chan<- string, say func(string, ...any)) {
	var devs []string
	for i := 0; i < 50 && len(devs) == 0; i++ {
		devs = powerButtons("/sys")
		if len(devs) == 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if len(devs) == 0 {
		say("coffer: no ACPI power button found")
		return
	}
	var files []*os.File
	for _, d := range devs {
		var f *os.File
		var err error
		for range 50 { // devtmpfs may lag behind sysfs
			if f, err = os.Open(d); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			say("coffer: power button %s: %v", d, err)
			continue
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return
	}
	// Only now that the devices are open is a press sure to be seen.
	say("coffer: watching power button %s", strings.Join(devs, " "))
	for _, f := range files {
		go func() {
			defer f.Close()
			ev := make([]byte, inputEventSize)
			for {
				if _, err := io.ReadFull(f, ev); err != nil {
					return
				}
				if isPowerPress(ev) {
					select {
					case power <- "power button":
					default:
					}
					return
				}
			}
		}()
	}
}
