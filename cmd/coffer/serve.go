package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cofferhsm/coffer/hsm/auth"
	"github.com/cofferhsm/coffer/kmip/server"
)

// serveHandler builds the KMIP request handler for coffer serve from the
// data directory and the authority (the op layer; wired by the lead). The
// returned close function, if not nil, is called after the listener has
// shut down. While serveHandler is nil, serve initializes the data
// directory and then fails with errNotWired.
var serveHandler func(data string, a *auth.Authority, log *slog.Logger) (h server.Handler, close func() error, err error)

var errNotWired = errors.New("serve: KMIP operations not wired yet (the data directory was initialized)")

// shutdownGrace bounds how long serve waits for in-flight requests.
const shutdownGrace = 10 * time.Second

func runServe(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlagSet("serve", "serve --data DIR [--kmip-addr ADDR] [--san NAME]...", stderr)
	data := fs.String("data", "", "data directory of the appliance (required; created 0700)")
	addr := fs.String("kmip-addr", "127.0.0.1:5696", "TCP address of the KMIP listener")
	var sans stringList
	fs.Var(&sans, "san", "extra DNS name or IP address for the server certificate (repeatable)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("serve: unexpected arguments %q", pos)
	}
	a, err := openAuthority(*data)
	if err != nil {
		return err
	}
	cert, err := a.ServerCertificate(sans)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "KMIP server certificate for %v; clients must trust %s/ca.crt\n", cert.Leaf.DNSNames, authDir(*data))
	if serveHandler == nil {
		return errNotWired
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	h, closeHandler, err := serveHandler(*data, a, log)
	if err != nil {
		return err
	}
	if closeHandler != nil {
		defer closeHandler()
	}
	srv, err := server.New(server.Config{
		Addr:        *addr,
		Certificate: &cert,
		Identifier:  a,
		Handler:     h,
		Logger:      log,
	})
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, server.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
