// Command hsmd is Coffer's crypto core service: it owns the master key,
// the record store and the Tink primitives, and serves hsm.API over the
// CBOR RPC of package hsm/rpc on a unix socket. It never touches the
// network.
//
// Process contract (see boot/supervise): PID 1 starts hsmd with the
// unsealed 32-byte master key written raw to the file descriptor given by
// -master-fd (default 0, stdin; a pipe that PID 1 closes after writing).
// hsmd logs "hsmd: listening on <socket>" once it serves, and exits 0 on
// SIGTERM or SIGINT after closing the store and the audit log. It exits
// 125 ("do not restart") when its configuration is unusable (bad flags,
// missing or short master key, an audit log keyed by another master key);
// other failures exit 1 and are restarted. Every core operation is
// appended to the audit log before its result is returned.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/audit"
	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/hsm/rpc"
	"github.com/cofferhsm/coffer/hsm/store"
)

// exitNoRestart tells the supervisor not to restart hsmd.
const exitNoRestart = 125

// configError marks errors that restarting cannot fix.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := run(ctx, os.Stderr, os.Args[1:], func(fd int) io.ReadCloser { return os.NewFile(uintptr(fd), "master") }, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hsmd:", err)
		if errors.As(err, new(configError)) {
			os.Exit(exitNoRestart)
		}
		os.Exit(1)
	}
}

// run is hsmd's entry point. openFD opens the master key descriptor;
// ready, if not nil, is called once the socket serves.
func run(ctx context.Context, stderr io.Writer, args []string, openFD func(int) io.ReadCloser, ready func()) error {
	fs := flag.NewFlagSet("hsmd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", "/run/coffer/hsmd.sock", "unix socket to serve the core RPC on")
	dbPath := fs.String("db", "/data/coffer.db", "record store (bbolt file)")
	auditPath := fs.String("audit", "/data/audit.log", "audit log (HMAC chain keyed from the master key)")
	masterFD := fs.Int("master-fd", 0, "file descriptor carrying the raw 32-byte master key")
	if err := fs.Parse(args); err != nil {
		return configError{err}
	}
	if fs.NArg() != 0 {
		return configError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	master, err := readMaster(openFD(*masterFD))
	if err != nil {
		return configError{err}
	}
	defer master.Destroy()

	db, err := store.Open(*dbPath, nil)
	if err != nil {
		return fmt.Errorf("opening store: %w", err)
	}
	defer db.Close()
	alog, err := openAudit(*auditPath, master)
	if err != nil {
		return err
	}
	defer alog.Close()
	core, err := hsm.New(hsm.Config{Store: db, Master: master, Audit: hsm.AuditLog(alog)})
	if err != nil {
		return err
	}
	logger := log.New(stderr, "", log.LstdFlags)
	return rpc.ListenAndServe(ctx, *socket, core, logger, func() {
		logger.Printf("hsmd: listening on %s", *socket)
		if ready != nil {
			ready()
		}
	})
}

// openAudit opens the audit log keyed with the master-derived MAC key. A
// key mismatch means the wrong master key: a configError.
func openAudit(path string, master *key.Master) (*audit.Log, error) {
	k, err := master.Derive(key.LabelAuditMAC, 32)
	if err != nil {
		return nil, err
	}
	defer k.Destroy()
	kb, _ := k.Bytes()
	l, err := audit.Open(path, audit.Options{Key: kb})
	if errors.Is(err, audit.ErrKey) {
		return nil, configError{fmt.Errorf("audit log: %w", err)}
	}
	if err != nil {
		return nil, fmt.Errorf("opening audit log: %w", err)
	}
	return l, nil
}

// readMaster reads exactly key.MasterSize bytes and then requires EOF.
func readMaster(r io.ReadCloser) (*key.Master, error) {
	if r == nil {
		return nil, errors.New("master key descriptor is not open")
	}
	defer r.Close()
	var b [key.MasterSize + 1]byte
	n, err := io.ReadFull(r, b[:])
	defer key.Zero(b[:])
	if n != key.MasterSize || !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("master key: read %d bytes, want exactly %d", n, key.MasterSize)
	}
	return key.NewMaster(b[:key.MasterSize])
}
