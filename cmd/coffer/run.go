package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/cofferhsm/coffer/firmware/admin"
)

const usageText = `Usage: coffer <command> [arguments]

Commands:
  app create NAME --data DIR --out OUTDIR
        create app NAME and issue it a client certificate; writes
        OUTDIR/client.crt, OUTDIR/client.key (0600) and OUTDIR/ca.crt
        (the CA of the KMIP server certificate)
  app sign-csr NAME --data DIR --csr FILE --out FILE
        sign a PEM certificate signing request for app NAME
  app trust-cert NAME --data DIR --cert FILE [--any-eku]
        pin a PEM client certificate (e.g. vCenter's self-signed one) for app NAME;
        --any-eku accepts one whose extended key usage lacks clientAuth
  app set-password NAME --data DIR
        set the KMIP username/password credential of app NAME (password read
        from the first line of standard input)
  serve --data DIR [--kmip-addr ADDR] [--san NAME]... [--tpm SPEC]
        on first start initialize DIR (CA, server certificate, master key
        sealed by the TPM SPEC: tcp:HOST:PORT for a running swtpm, a device
        path, "swtpm" for one serve runs, or "insecure"; default /dev/tpmrm0,
        else swtpm, else insecure); then run the crypto core and the KMIP
        listener until SIGINT/SIGTERM
` + imageUsage + vmUsage + `  help [command]
        show help

Against a running appliance (admin HTTPS API):
` + admin.CLIUsage + `
Run "coffer <command> -h" for the flags of a command.
`

// usageError is a command-line mistake: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// exitCode prints err (if any) to stderr and returns the process exit
// status: 0 on success or -h, 2 for usage errors, 1 otherwise.
func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	var aue *admin.UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue), errors.As(err, &aue):
		fmt.Fprintf(stderr, "coffer: %v\nRun 'coffer help' for usage.\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "coffer: %v\n", err)
		return 1
	}
}

// run is the whole CLI. It returns flag.ErrHelp after printing help for
// -h, a *usageError for command-line mistakes, or the command's error.
func run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return usagef("no command")
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usageText)
		return nil
	case "app":
		if admin.WantsAppliance(args[1:]) {
			return admin.RunCLI(ctx, stdin, stdout, stderr, args)
		}
		return runApp(ctx, stdin, stdout, stderr, args[1:])
	case "admin":
		return admin.RunCLI(ctx, stdin, stdout, stderr, args)
	case "vm":
		return runVM(ctx, stdin, stdout, stderr, args[1:])
	case "image":
		return runImage(ctx, stdin, stdout, stderr, args[1:])
	case "serve":
		return runServe(ctx, stdout, stderr, args[1:])
	}
	return usagef("unknown command %q", args[0])
}

// parseArgs parses flags that may come before, between or after the
// positional arguments, and returns the positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// newFlagSet returns a flag set that reports errors instead of exiting
// and prints its usage to stderr.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: coffer %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}
