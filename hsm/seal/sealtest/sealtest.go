// Package sealtest runs a software TPM (swtpm) for tests.
//
// Start launches `swtpm socket --tpm2` on two free loopback TCP ports (the
// command port P and the platform/control port P+1, the layout go-tpm's tcp
// transport expects) with its state in a directory that outlives the
// process, waits until the TPM answers a command, and stops it on
// t.Cleanup. Restart stops the process and starts a new one on the same
// state: the TPM keeps its seeds and NV indices, and its PCRs are reset
// as after a reboot. swtpm serves one client connection at a time: close a
// connection (or sealer) before opening the next. Tests skip, with the
// reason, when swtpm is not installed.
package sealtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/tcp"
)

// readyTimeout bounds how long Start waits for a new swtpm to answer.
const readyTimeout = 10 * time.Second

// attempts is how often Start retries when a port was taken between
// choosing it and swtpm binding it.
const attempts = 5

// SWTPM is a running swtpm process. Its methods are safe for use by one
// goroutine at a time.
type SWTPM struct {
	// Dir is the state directory. It survives Stop and Restart.
	Dir string

	mu   sync.Mutex
	port int
	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
}

// Start starts a swtpm with a fresh state in a new t.TempDir. It skips the
// test when swtpm is not installed and fails it when swtpm does not come
// up. The process is stopped on t.Cleanup.
func Start(t testing.TB) *SWTPM {
	t.Helper()
	return StartDir(t, t.TempDir())
}

// StartDir is Start with the state kept in dir, which may hold the state of
// an earlier swtpm (that TPM is then resumed) or be empty (a new TPM).
func StartDir(t testing.TB, dir string) *SWTPM {
	t.Helper()
	if _, err := exec.LookPath("swtpm"); err != nil {
		t.Skipf("sealtest: swtpm not installed: %v", err)
	}
	s := &SWTPM{Dir: dir}
	t.Cleanup(s.Stop)
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// Addr is the command address, "127.0.0.1:P". The platform port is P+1.
func (s *SWTPM) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Spec is the sealer spec for seal.Open, "tcp:127.0.0.1:P".
func (s *SWTPM) Spec() string { return "tcp:" + s.Addr() }

// Open connects go-tpm's tcp transport to the TPM. The caller closes it.
func (s *SWTPM) Open() (transport.TPMCloser, error) {
	s.mu.Lock()
	port := s.port
	s.mu.Unlock()
	return open(port)
}

// Restart stops the process and starts a new one on the same state
// directory, as a reboot would: NV state persists, PCRs are reset. The
// ports may change; read Addr or Spec again.
func (s *SWTPM) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}

// Stop terminates the process and waits for it. It is idempotent.
func (s *SWTPM) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *SWTPM) stopLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

func (s *SWTPM) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for range attempts {
		port, err := freePortPair()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = s.startOn(port)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("sealtest: starting swtpm: %w", errors.Join(errs...))
}

// startOn runs swtpm on port and port+1 and waits until it answers.
func (s *SWTPM) startOn(port int) error {
	cmd := exec.Command("swtpm", "socket", "--tpm2",
		"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port),
		"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port+1),
		"--flags", "not-need-init,startup-clear",
		"--tpmstate", "dir="+s.Dir,
		"--pid", "file="+filepath.Join(s.Dir, "swtpm.pid"),
	)
	killWithParent(cmd)
	log := new(bytes.Buffer)
	cmd.Stdout = log
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	deadline := time.Now().Add(readyTimeout)
	for {
		err := probe(port)
		if err == nil {
			break
		}
		select {
		case <-done:
			return fmt.Errorf("swtpm on port %d exited: %s", port, bytes.TrimSpace(log.Bytes()))
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("swtpm on port %d not ready after %v: %v", port, readyTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.port, s.cmd, s.done, s.log = port, cmd, done, log
	return nil
}

// probe succeeds when the TPM on port answers TPM2_GetRandom.
func probe(port int) error {
	tpm, err := open(port)
	if err != nil {
		return err
	}
	defer tpm.Close()
	_, err = tpm2.GetRandom{BytesRequested: 8}.Execute(tpm)
	return err
}

func open(port int) (transport.TPMCloser, error) {
	return tcp.Open(tcp.Config{
		CommandAddress:  net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		PlatformAddress: net.JoinHostPort("127.0.0.1", strconv.Itoa(port+1)),
	})
}

// freePortPair returns a port P such that P and P+1 were both free on
// 127.0.0.1 a moment ago.
func freePortPair() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		if port >= 65535 {
			l.Close()
			continue
		}
		l2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+1)))
		l.Close()
		if err != nil {
			continue
		}
		l2.Close()
		return port, nil
	}
	return 0, errors.New("no free pair of loopback ports")
}
