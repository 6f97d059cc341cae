package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cofferhsm/coffer/hsm/auth"
)

// authDir is where the authority lives inside the data directory.
func authDir(data string) string { return filepath.Join(data, "auth") }

// openAuthority creates the data directory (0700) if needed and loads the
// authority in it.
func openAuthority(data string) (*auth.Authority, error) {
	if data == "" {
		return nil, usagef("--data DIR is required")
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	return auth.Load(authDir(data), auth.Options{})
}

func runApp(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 {
		return usagef("app: missing subcommand (create, sign-csr, trust-cert, set-password)")
	}
	switch args[0] {
	case "create":
		return appCreate(stdout, stderr, args[1:])
	case "sign-csr":
		return appSignCSR(stdout, stderr, args[1:])
	case "trust-cert":
		return appTrustCert(stdout, stderr, args[1:])
	case "set-password":
		return appSetPassword(stdin, stdout, stderr, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usageText)
		return nil
	}
	return usagef("app: unknown subcommand %q", args[0])
}

// appName parses the single positional NAME.
func appName(cmd string, pos []string) (string, error) {
	if len(pos) != 1 {
		return "", usagef("%s: want exactly one app NAME, got %d arguments", cmd, len(pos))
	}
	if !auth.ValidName(pos[0]) {
		return "", usagef("%s: invalid app name %q (1-%d characters of A-Z a-z 0-9 . _ -, not starting with '.')", cmd, pos[0], auth.MaxNameLen)
	}
	return pos[0], nil
}

func appCreate(stdout, stderr io.Writer, args []string) error {
	fs := newFlagSet("app create", "app create NAME --data DIR --out OUTDIR", stderr)
	data := fs.String("data", "", "data directory of the appliance (required)")
	out := fs.String("out", "", "directory for client.crt, client.key and ca.crt (required)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	name, err := appName("app create", pos)
	if err != nil {
		return err
	}
	if *out == "" {
		return usagef("app create: --out OUTDIR is required")
	}
	files := map[string]string{"crt": filepath.Join(*out, "client.crt"), "key": filepath.Join(*out, "client.key"), "ca": filepath.Join(*out, "ca.crt")}
	for _, f := range files {
		if _, err := os.Lstat(f); err == nil {
			return fmt.Errorf("app create: %s already exists; not overwriting", f)
		}
	}
	a, err := openAuthority(*data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	certPEM, keyPEM, err := a.CreateApp(name)
	if err != nil {
		return err
	}
	if err := writeNew(files["key"], keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeNew(files["crt"], certPEM, 0o644); err != nil {
		return err
	}
	if err := writeNew(files["ca"], a.CACertPEM(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created app %q: %s, %s, %s\n", name, files["crt"], files["key"], files["ca"])
	return nil
}

func appSignCSR(stdout, stderr io.Writer, args []string) error {
	fs := newFlagSet("app sign-csr", "app sign-csr NAME --data DIR --csr FILE --out FILE", stderr)
	data := fs.String("data", "", "data directory of the appliance (required)")
	csrFile := fs.String("csr", "", "PEM certificate signing request (required)")
	out := fs.String("out", "", "file for the signed PEM certificate (required; must not exist)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	name, err := appName("app sign-csr", pos)
	if err != nil {
		return err
	}
	if *csrFile == "" || *out == "" {
		return usagef("app sign-csr: --csr FILE and --out FILE are required")
	}
	csr, err := readBounded(*csrFile, auth.MaxPEMSize)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(*out); err == nil {
		return fmt.Errorf("app sign-csr: %s already exists; not overwriting", *out)
	}
	a, err := openAuthority(*data)
	if err != nil {
		return err
	}
	cert, err := a.SignCSR(name, csr)
	if err != nil {
		return err
	}
	if err := writeNew(*out, cert, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "signed a client certificate for app %q: %s (server CA: %s)\n", name, *out, filepath.Join(authDir(*data), "ca.crt"))
	return nil
}

func appTrustCert(stdout, stderr io.Writer, args []string) error {
	fs := newFlagSet("app trust-cert", "app trust-cert NAME --data DIR --cert FILE [--any-eku]", stderr)
	data := fs.String("data", "", "data directory of the appliance (required)")
	certFile := fs.String("cert", "", "PEM client certificate to pin (required)")
	anyEKU := fs.Bool("any-eku", false, "accept the certificate even if its extended key usage excludes clientAuth")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	name, err := appName("app trust-cert", pos)
	if err != nil {
		return err
	}
	if *certFile == "" {
		return usagef("app trust-cert: --cert FILE is required")
	}
	cert, err := readBounded(*certFile, auth.MaxPEMSize)
	if err != nil {
		return err
	}
	a, err := openAuthority(*data)
	if err != nil {
		return err
	}
	if err := a.TrustCert(name, cert, auth.TrustOptions{AnyEKU: *anyEKU}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "app %q now trusts the certificate in %s\n", name, *certFile)
	return nil
}

func appSetPassword(stdin io.Reader, stdout, stderr io.Writer, args []string) error {
	fs := newFlagSet("app set-password", "app set-password NAME --data DIR  (password on stdin)", stderr)
	data := fs.String("data", "", "data directory of the appliance (required)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	name, err := appName("app set-password", pos)
	if err != nil {
		return err
	}
	line, err := bufio.NewReaderSize(io.LimitReader(stdin, auth.MaxPasswordLen+2), auth.MaxPasswordLen+2).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" || len(pw) > auth.MaxPasswordLen {
		return fmt.Errorf("app set-password: want a password of 1-%d bytes on the first line of standard input", auth.MaxPasswordLen)
	}
	a, err := openAuthority(*data)
	if err != nil {
		return err
	}
	if err := a.SetPassword(name, pw); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "password set for app %q\n", name)
	return nil
}

// readBounded reads a file of at most max bytes.
func readBounded(path string, max int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return b, nil
}

// writeNew creates path (which must not exist) with data and mode perm.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
