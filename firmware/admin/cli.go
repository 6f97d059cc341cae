package admin

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cofferhsm/coffer/hsm/auth"
)

// CLIUsage describes the commands of RunCLI, for the coffer help text.
const CLIUsage = `  admin enroll --appliance URL --token TOKEN --ca-fingerprint SHA256 --out DIR [--name NAME]
        enroll as the appliance's admin with the one-time token shown on its
        console; the CA fingerprint shown next to it is required (no
        trust on first use). Writes DIR/admin.crt, DIR/admin.key (0600),
        DIR/ca.crt. --token - reads the token from standard input.
  admin status --appliance URL --admin DIR
        show the appliance status
  app create NAME --appliance URL --admin DIR --out OUTDIR
  app sign-csr NAME --appliance URL --admin DIR --csr FILE --out FILE
  app trust-cert NAME --appliance URL --admin DIR --cert FILE [--any-eku]
  app list --appliance URL --admin DIR
        the app commands, against a running appliance's admin API
`

// UsageError is a command-line mistake in RunCLI (exit status 2).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error {
	return &UsageError{fmt.Sprintf(format, args...)}
}

// RunCLI runs one remote CLI command: args start with "admin" or "app"
// (see CLIUsage). It returns flag.ErrHelp after printing help for -h, a
// *UsageError for command-line mistakes, or the command's error. stdin is
// read only for "--token -".
func RunCLI(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args []string) error {
	if len(args) < 2 {
		return usagef("want admin or app with a subcommand")
	}
	switch args[0] + " " + args[1] {
	case "admin enroll":
		return cliEnroll(ctx, stdin, stdout, stderr, args[2:])
	case "admin status":
		return cliStatus(ctx, stdout, stderr, args[2:])
	case "app create":
		return cliAppCreate(ctx, stdout, stderr, args[2:])
	case "app sign-csr":
		return cliSignCSR(ctx, stdout, stderr, args[2:])
	case "app trust-cert":
		return cliTrust(ctx, stdout, stderr, args[2:])
	case "app list":
		return cliList(ctx, stdout, stderr, args[2:])
	}
	return usagef("%s %s: not available against an appliance", args[0], args[1])
}

// remoteFlags are the flags of every command that uses admin credentials.
type remoteFlags struct {
	fs        *flag.FlagSet
	appliance *string
	admin     *string
}

func newRemoteFlags(name, synopsis string, stderr io.Writer) remoteFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: coffer %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return remoteFlags{
		fs:        fs,
		appliance: fs.String("appliance", "", "URL of the appliance admin API, e.g. https://127.0.0.1:8443 (required)"),
		admin:     fs.String("admin", "", "directory with admin.crt, admin.key and ca.crt from 'coffer admin enroll' (required)"),
	}
}

// parse parses flags anywhere among the arguments and returns the
// positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &UsageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// open parses args and opens a client; it returns the positional
// arguments, which must number wantPos.
func (rf remoteFlags) open(args []string, wantPos int) (*Client, []string, error) {
	pos, err := parse(rf.fs, args)
	if err != nil {
		return nil, nil, err
	}
	if len(pos) != wantPos {
		return nil, nil, usagef("%s: want %d positional arguments, got %d", rf.fs.Name(), wantPos, len(pos))
	}
	if wantPos == 1 && !auth.ValidName(pos[0]) {
		return nil, nil, usagef("%s: invalid app name %q (1-%d characters of A-Z a-z 0-9 . _ -, not starting with '.')", rf.fs.Name(), pos[0], auth.MaxNameLen)
	}
	if *rf.appliance == "" || *rf.admin == "" {
		return nil, nil, usagef("%s: --appliance URL and --admin DIR are required", rf.fs.Name())
	}
	c, err := Open(*rf.appliance, *rf.admin)
	if errors.Is(err, ErrBadConfig) {
		return nil, nil, &UsageError{err.Error()}
	}
	return c, pos, err
}

func cliEnroll(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("admin enroll", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: coffer admin enroll --appliance URL --token TOKEN --ca-fingerprint SHA256 --out DIR [--name NAME]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var o EnrollOptions
	fs.StringVar(&o.URL, "appliance", "", "URL of the appliance admin API, e.g. https://127.0.0.1:8443 (required)")
	fs.StringVar(&o.Token, "token", "", "one-time enrollment token from the console; - reads it from standard input (required)")
	fs.StringVar(&o.CAFingerprint, "ca-fingerprint", "", "SHA-256 fingerprint of the appliance CA, from the console (required)")
	fs.StringVar(&o.OutDir, "out", "", "directory for admin.crt, admin.key and ca.crt (required)")
	fs.StringVar(&o.Name, "name", "admin", "name of the new admin")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("admin enroll: unexpected argument %q", pos[0])
	}
	if o.URL == "" || o.Token == "" || o.CAFingerprint == "" || o.OutDir == "" {
		return usagef("admin enroll: --appliance, --token, --ca-fingerprint and --out are required")
	}
	if !auth.ValidName(o.Name) {
		return usagef("admin enroll: invalid admin name %q", o.Name)
	}
	if o.Token == "-" {
		line, err := bufio.NewReader(io.LimitReader(stdin, 1024)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("admin enroll: reading the token: %w", err)
		}
		o.Token = strings.TrimSpace(line)
	}
	if err := Enroll(ctx, o); err != nil {
		if errors.Is(err, ErrBadConfig) {
			return &UsageError{err.Error()}
		}
		return err
	}
	fmt.Fprintf(stdout, "enrolled admin %q: %s, %s, %s\n", o.Name,
		filepath.Join(o.OutDir, AdminCertFile), filepath.Join(o.OutDir, AdminKeyFile), filepath.Join(o.OutDir, CACertFile))
	return nil
}

func cliStatus(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	rf := newRemoteFlags("admin status", "admin status --appliance URL --admin DIR", stderr)
	c, _, err := rf.open(args, 0)
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "version %s\nuptime %ds\napps %d\nadmins %d\nca sha256 %s\n", st.Version, st.UptimeSeconds, st.Apps, st.Admins, st.CASHA256)
	return nil
}

func cliAppCreate(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	rf := newRemoteFlags("app create", "app create NAME --appliance URL --admin DIR --out OUTDIR", stderr)
	out := rf.fs.String("out", "", "directory for client.crt, client.key and ca.crt (required)")
	c, pos, err := rf.open(args, 1)
	if err != nil {
		return err
	}
	defer c.Close()
	if *out == "" {
		return usagef("app create: --out OUTDIR is required")
	}
	if err := c.CreateApp(ctx, pos[0], *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created app %q: %s, %s, %s\n", pos[0],
		filepath.Join(*out, ClientCertFile), filepath.Join(*out, ClientKeyFile), filepath.Join(*out, CACertFile))
	return nil
}

func cliSignCSR(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	rf := newRemoteFlags("app sign-csr", "app sign-csr NAME --appliance URL --admin DIR --csr FILE --out FILE", stderr)
	csrFile := rf.fs.String("csr", "", "PEM certificate signing request (required)")
	out := rf.fs.String("out", "", "file for the signed certificate (required; not overwritten)")
	c, pos, err := rf.open(args, 1)
	if err != nil {
		return err
	}
	defer c.Close()
	if *csrFile == "" || *out == "" {
		return usagef("app sign-csr: --csr FILE and --out FILE are required")
	}
	if _, err := os.Lstat(*out); err == nil {
		return fmt.Errorf("%w: %s", ErrExists, *out)
	}
	csr, err := readFile(*csrFile, false, auth.MaxPEMSize)
	if err != nil {
		return fmt.Errorf("app sign-csr: %w", err)
	}
	certPEM, _, err := c.SignCSR(ctx, pos[0], csr)
	if err != nil {
		return err
	}
	if err := writeNew(*out, certPEM, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "signed a client certificate for app %q: %s\n", pos[0], *out)
	return nil
}

func cliTrust(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	rf := newRemoteFlags("app trust-cert", "app trust-cert NAME --appliance URL --admin DIR --cert FILE [--any-eku]", stderr)
	certFile := rf.fs.String("cert", "", "PEM client certificate to pin (required)")
	anyEKU := rf.fs.Bool("any-eku", false, "accept a certificate whose extended key usage lacks clientAuth")
	c, pos, err := rf.open(args, 1)
	if err != nil {
		return err
	}
	defer c.Close()
	if *certFile == "" {
		return usagef("app trust-cert: --cert FILE is required")
	}
	certPEM, err := readFile(*certFile, false, auth.MaxPEMSize)
	if err != nil {
		return fmt.Errorf("app trust-cert: %w", err)
	}
	fp, err := c.TrustCert(ctx, pos[0], certPEM, *anyEKU)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "app %q now trusts the certificate in %s (sha256 %s)\n", pos[0], *certFile, fp)
	return nil
}

func cliList(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	rf := newRemoteFlags("app list", "app list --appliance URL --admin DIR", stderr)
	c, _, err := rf.open(args, 0)
	if err != nil {
		return err
	}
	defer c.Close()
	apps, err := c.Apps(ctx)
	if err != nil {
		return err
	}
	for _, a := range apps {
		fmt.Fprintln(stdout, a)
	}
	return nil
}

// EnrollmentBanner is what the console prints on a boot that made an
// enrollment token (see InitEnrollment): the token and the CA fingerprint
// that `coffer admin enroll` requires. It contains the secret token: write
// it to the console only, never to a log file.
func EnrollmentBanner(tok EnrollmentToken, a *auth.Authority) string {
	return "coffer: admin enrollment token (one use): " + tok.Reveal() + "\n" +
		"coffer: appliance CA sha256: " + CAFingerprint(a) + "\n" +
		"coffer: enroll with: coffer admin enroll --appliance https://HOST:8443 --token TOKEN --ca-fingerprint SHA256 --out DIR\n"
}

// WantsAppliance reports whether command-line arguments contain the
// --appliance flag (-appliance, --appliance URL or --appliance=URL), that
// is, whether an `app` command is meant for RunCLI rather than for a local
// data directory. Arguments after "--" are not flags.
func WantsAppliance(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if strings.HasPrefix(a, "-") && name == "appliance" {
			return true
		}
	}
	return false
}
