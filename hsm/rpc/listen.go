package rpc

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"

	"github.com/cofferhsm/coffer/hsm"
)

// ListenAndServe serves api on a unix socket at path until ctx is done,
// then closes every connection and returns nil. A stale socket file at
// path is replaced; the socket is created with mode 0600. ready, if not
// nil, is called once the socket accepts connections.
func ListenAndServe(ctx context.Context, path string, api hsm.API, logger *log.Logger, ready func()) error {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("rpc: %s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("rpc: removing stale socket: %w", err)
		}
	}
	old := umask(0o177)
	l, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return fmt.Errorf("rpc: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return fmt.Errorf("rpc: %w", err)
	}
	s := &Server{API: api, Log: logger}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	if ready != nil {
		ready()
	}
	select {
	case <-ctx.Done():
		s.Close()
		<-done
		os.Remove(path)
		return nil
	case err := <-done:
		s.Close()
		if errors.Is(err, ErrServerClosed) {
			return nil
		}
		return err
	}
}
