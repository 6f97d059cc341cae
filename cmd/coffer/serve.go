package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/cofferhsm/coffer/internal/hostmode"
	"github.com/cofferhsm/coffer/kmip/server"
)

// shutdownGrace bounds how long serve waits for in-flight requests.
const shutdownGrace = 10 * time.Second

// tpmDevice and swtpmBinary are the TPM device and the swtpm binary serve
// looks for when --tpm is not given (empty: /dev/tpmrm0 and swtpm in
// PATH); tests point them elsewhere.
var tpmDevice, swtpmBinary = "", ""

func runServe(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlagSet("serve", "serve --data DIR [--kmip-addr ADDR] [--san NAME]... [--tpm SPEC]", stderr)
	data := fs.String("data", "", "data directory of the appliance (required; created 0700)")
	addr := fs.String("kmip-addr", "127.0.0.1:5696", "TCP address of the KMIP listener")
	tpm := fs.String("tpm", "", "master key sealer: tcp:HOST:PORT (a running swtpm), a TPM device path, \"swtpm\" (serve runs swtpm with its state in DIR/swtpm; development only) "+
		"or \"insecure\" (a plain key file; development only). Default: the one DIR was initialized with; on first start /dev/tpmrm0 if present, else swtpm if installed, else insecure")
	var sans stringList
	fs.Var(&sans, "san", "extra DNS name or IP address for the server certificate (repeatable)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("serve: unexpected arguments %q", pos)
	}
	if *data == "" {
		return usagef("--data DIR is required")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	h, err := hostmode.Open(hostmode.Config{Dir: *data, SANs: sans, Sealer: *tpm, Logger: log, TPMDevice: tpmDevice, SWTPM: swtpmBinary})
	if err != nil {
		return err
	}
	defer h.Close()
	if h.Insecure {
		fmt.Fprint(stderr, insecureBanner)
	}
	srv, err := server.New(h.ServerConfig(*addr))
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	printServing(stdout, h, l.Addr().String(), *data)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
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

const insecureBanner = `
************************************************************************
* WARNING: INSECURE MASTER KEY SEALING                                 *
* The master key is wrapped by a plain key file in the data directory, *
* not sealed by a TPM: anyone who can read that directory has every    *
* key. For development only. Start a new data directory with           *
* --tpm tcp:HOST:PORT (swtpm) or --tpm /dev/tpmrm0 for real use.       *
************************************************************************
`

// printServing tells the operator where the server is and how to point a
// client at it.
func printServing(w io.Writer, h *hostmode.Host, addr, data string) {
	state := "unsealed"
	if h.Created {
		state = "generated and sealed"
	}
	fmt.Fprintf(w, "coffer: master key %s by %s\n", state, h.SealerName)
	if h.SoftwareTPM {
		fmt.Fprintf(w, "coffer: note: the software TPM's state is in %s: for development only\n", data)
	}
	fmt.Fprintf(w, "coffer: KMIP 1.1 over mutual TLS on %s (server certificate for %v %v)\n", addr, h.Certificate.Leaf.DNSNames, h.Certificate.Leaf.IPAddresses)
	fmt.Fprintf(w, "coffer: clients must trust %s\n", filepath.Join(authDir(data), "ca.crt"))
	fmt.Fprintf(w, "coffer: issue client credentials with:\n    coffer app create NAME --data %s --out DIR\n", data)
	fmt.Fprintf(w, "coffer: (or pin an existing client certificate: coffer app trust-cert NAME --data %s --cert FILE)\n", data)
}
