package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cofferhsm/coffer/qemu"
)

const vmUsage = `  vm run [--image DIR] [--dir DIR] [--console] [--memory MIB] [--accel tcg|kvm|auto]
         [--kmip ADDR] [--admin ADDR]
        boot the appliance image (default var/image) in QEMU with swtpm; state
        (TPM, data disk, console.log, QMP socket) lives in --dir (default
        var/vm) and survives restarts. Prints the endpoints and, on a box
        without an admin, the one-time enrollment token; Ctrl-C powers the VM
        off cleanly
  vm stop [--dir DIR]
        power off the VM running in DIR cleanly (ACPI power button via QMP)
`

// runVM is `coffer vm run|stop`.
func runVM(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, "Usage:\n"+vmUsage)
		return usagef("vm: want run or stop")
	}
	switch args[0] {
	case "run":
		return vmRun(ctx, stdout, stderr, args[1:])
	case "stop":
		return vmStop(ctx, stdout, stderr, args[1:])
	}
	return usagef("vm: unknown subcommand %q", args[0])
}

func vmRun(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlagSet("vm run", "vm run [flags]", stderr)
	imageDir := fs.String("image", defaultImageDir, "image folder (coffer image build)")
	dir := fs.String("dir", defaultVMDir, "VM state folder")
	console := fs.Bool("console", false, "copy the serial console to the terminal")
	mem := fs.Int("memory", 512, "guest memory in MiB")
	accel := fs.String("accel", "tcg", "accelerator: tcg, kvm, or auto (KVM only after a probe boot succeeds)")
	kmipAddr := fs.String("kmip", "127.0.0.1:5696", "host address forwarded to the guest's KMIP port")
	adminAddr := fs.String("admin", "127.0.0.1:8443", "host address forwarded to the guest's admin API")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("vm run: unexpected arguments %q", pos)
	}
	switch *accel {
	case "tcg", "kvm", "auto":
	default:
		return usagef("vm run: --accel %q: want tcg, kvm or auto", *accel)
	}
	cfg := qemu.Config{
		ImageDir:  *imageDir,
		Dir:       *dir,
		MemoryMiB: *mem,
		Accel:     *accel,
		Forwards:  []qemu.Forward{{HostAddr: *kmipAddr, GuestPort: 5696}, {HostAddr: *adminAddr, GuestPort: 8443}},
	}
	if *console {
		cfg.Console = stdout
	}
	fmt.Fprintf(stdout, "coffer: booting %s in QEMU (state in %s)\n", *imageDir, *dir)
	start := time.Now()
	vm, err := qemu.Start(ctx, cfg)
	if errors.Is(err, qemu.ErrHalted) {
		fmt.Fprintf(stdout, "coffer: the appliance halted: %v\ncoffer: see %s/%s; powering off\n", err, *dir, qemu.ConsoleLog)
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if serr := vm.Stop(sctx); serr != nil {
			err = errors.Join(err, serr)
		}
		return err
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "coffer: ready in %v (%s)\n", time.Since(start).Round(100*time.Millisecond), vm.Accel())
	fmt.Fprintf(stdout, "coffer: KMIP 1.1 (mutual TLS) on %s\n", *kmipAddr)
	fmt.Fprintf(stdout, "coffer: admin API on https://%s\n", *adminAddr)
	if e, ok := vm.Enrollment(); ok {
		fmt.Fprintf(stdout, "coffer: one-time admin enrollment token: %s\n", e.Token)
		fmt.Fprintf(stdout, "coffer: enroll with:\n    coffer admin enroll --appliance https://%s --token %s --ca-fingerprint %s --out var/admin\n", *adminAddr, e.Token, e.CAFingerprint)
	} else {
		fmt.Fprintf(stdout, "coffer: an admin is enrolled; use: coffer app create NAME --appliance https://%s --admin DIR --out OUTDIR\n", *adminAddr)
	}
	fmt.Fprintf(stdout, "coffer: Ctrl-C or `coffer vm stop --dir %s` powers it off\n", *dir)
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "coffer: powering off")
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return vm.Stop(sctx)
	case <-vm.Exited():
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := vm.Stop(sctx); err != nil {
			return fmt.Errorf("vm exited: %w", err)
		}
		fmt.Fprintln(stdout, "coffer: the VM powered off")
		return nil
	}
}

func vmStop(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlagSet("vm stop", "vm stop [--dir DIR]", stderr)
	dir := fs.String("dir", defaultVMDir, "VM state folder")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("vm stop: unexpected arguments %q", pos)
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := qemu.PowerOff(sctx, *dir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "coffer: VM in %s powered off\n", *dir)
	return nil
}
