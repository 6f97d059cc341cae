// Command kmipd is Coffer's network service: the KMIP 1.1 listener (mutual
// TLS, port 5696) and the admin HTTPS API (port 8443), both over the
// appliance CA in -auth. It holds no master key: every KMIP operation goes
// to hsmd over the core RPC socket (-hsm), so a parser bug cannot read the
// store.
//
// Process contract (see boot/supervise): PID 1 starts kmipd after hsmd
// serves. kmipd prints "listening on ADDR" once the KMIP port accepts
// connections and "admin API on ADDR" once the admin port does (the
// supervisor prefixes "kmipd: "). It exits 0 on SIGTERM or SIGINT after a
// graceful shutdown, 125 ("do not restart") for a configuration that
// restarting cannot fix (bad flags, unusable CA directory), and 1 on other
// failures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cofferhsm/coffer/firmware/admin"
	"github.com/cofferhsm/coffer/hsm/auth"
	"github.com/cofferhsm/coffer/hsm/rpc"
	"github.com/cofferhsm/coffer/kmip/server"
)

// exitNoRestart tells the supervisor not to restart kmipd.
const exitNoRestart = 125

// shutdownGrace bounds the wait for KMIP requests in flight.
const shutdownGrace = 5 * time.Second

// configError marks errors that restarting cannot fix.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		if errors.As(err, new(configError)) {
			os.Exit(exitNoRestart)
		}
		os.Exit(1)
	}
}

// run serves until ctx ends. Status lines go to out.
func run(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("kmipd", flag.ContinueOnError)
	fs.SetOutput(out)
	hsmSock := fs.String("hsm", "/run/coffer/hsmd.sock", "unix socket of hsmd's core RPC")
	authDir := fs.String("auth", "/data/auth", "appliance CA and app registry (hsm/auth)")
	adminDir := fs.String("admin-dir", "/data/admin", "admin API state (enrollment token hash, admins)")
	kmipAddr := fs.String("kmip", ":5696", "KMIP listen address")
	adminAddr := fs.String("admin", ":8443", "admin HTTPS listen address; empty disables it")
	version := fs.String("version", "dev", "image version reported by the admin API")
	verbose := fs.Bool("v", false, "log every KMIP batch item")
	if err := fs.Parse(args); err != nil {
		return configError{err}
	}
	if fs.NArg() != 0 {
		return configError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level}))

	a, err := auth.Load(*authDir, auth.Options{})
	if err != nil {
		return configError{err}
	}
	cert, err := a.ServerCertificate(nil)
	if err != nil {
		return configError{err}
	}
	core := rpc.Dial(*hsmSock)
	defer core.Close()
	ops, err := server.NewOps(server.OpsConfig{Core: core, Logger: log, Passwords: a})
	if err != nil {
		return configError{err}
	}
	srv, err := server.New(server.Config{Certificate: &cert, Identifier: a, Handler: ops, Logger: log})
	if err != nil {
		return configError{err}
	}
	var as *admin.Server
	if *adminAddr != "" {
		if as, err = admin.New(admin.Config{Authority: a, Dir: *adminDir, Version: *version, Log: log}); err != nil {
			return configError{err}
		}
	}
	kl, err := net.Listen("tcp", *kmipAddr)
	if err != nil {
		return err
	}
	var al net.Listener
	if as != nil {
		if al, err = net.Listen("tcp", *adminAddr); err != nil {
			kl.Close()
			return err
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(kl) }()
	actx, cancelAdmin := context.WithCancel(ctx)
	defer cancelAdmin()
	var adminDone chan error // nil (never ready) without the admin API
	if as != nil {
		adminDone = make(chan error, 1)
		go func() { adminDone <- as.Serve(actx, al) }()
		fmt.Fprintf(out, "admin API on %s\n", *adminAddr)
	}
	// Last: the KMIP line is the readiness marker of the whole service.
	fmt.Fprintf(out, "listening on %s\n", *kmipAddr)

	select {
	case <-ctx.Done():
	case err := <-errc:
		cancelAdmin()
		if adminDone != nil {
			<-adminDone
		}
		return fmt.Errorf("kmip: %w", err)
	case err := <-adminDone:
		shutdown(srv, errc)
		if err == nil {
			err = errors.New("stopped")
		}
		return fmt.Errorf("admin: %w", err)
	}
	cancelAdmin()
	err = shutdown(srv, errc)
	if adminDone != nil {
		if aerr := <-adminDone; aerr != nil && err == nil {
			err = aerr
		}
	}
	return err
}

// shutdown stops the KMIP server gracefully and waits for Serve.
func shutdown(srv *server.Server, errc <-chan error) error {
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, server.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
