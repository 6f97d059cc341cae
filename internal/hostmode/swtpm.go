package hostmode

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport/tcp"
)

// SWTPMDir is the state directory of the managed swtpm inside the data
// directory.
const SWTPMDir = "swtpm"

// swtpmReady bounds the wait for a new swtpm to answer.
const swtpmReady = 10 * time.Second

// managedSWTPM is a swtpm process Open runs for the duration of the seal
// or unseal only, on two free loopback ports, with its state in
// DIR/swtpm.
type managedSWTPM struct {
	cmd  *exec.Cmd
	done chan struct{}
	port int
}

// startSWTPM starts bin with its state in dir (created 0700) and waits
// until it answers a command. It retries on other ports when a port was
// taken in the meantime.
func startSWTPM(bin, dir string) (*managedSWTPM, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("hostmode: %w", err)
	}
	var errs []error
	for range 5 {
		port, err := freePortPair()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s, err := runSWTPM(bin, dir, port)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("hostmode: starting swtpm: %w", errors.Join(errs...))
}

func runSWTPM(bin, dir string, port int) (*managedSWTPM, error) {
	cmd := exec.Command(bin, "socket", "--tpm2",
		"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port),
		"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port+1),
		"--flags", "not-need-init,startup-clear",
		"--tpmstate", "dir="+dir,
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Killed with us if we die while it runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &managedSWTPM{cmd: cmd, done: make(chan struct{}), port: port}
	go func() {
		cmd.Wait()
		close(s.done)
	}()
	deadline := time.Now().Add(swtpmReady)
	for {
		err := probeTPM(port)
		if err == nil {
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("swtpm on port %d exited: %s", port, bytes.TrimSpace(out.Bytes()))
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("swtpm on port %d not ready after %v: %v", port, swtpmReady, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Spec is the seal.Open spec of the running swtpm.
func (s *managedSWTPM) Spec() string {
	return "tcp:" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Stop ends swtpm (SIGTERM; it saves its state on every command) and
// waits for it.
func (s *managedSWTPM) Stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// probeTPM succeeds when the TPM on port answers TPM2_GetRandom.
func probeTPM(port int) error {
	t, err := tcp.Open(tcp.Config{
		CommandAddress:  net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		PlatformAddress: net.JoinHostPort("127.0.0.1", strconv.Itoa(port+1)),
	})
	if err != nil {
		return err
	}
	defer t.Close()
	_, err = tpm2.GetRandom{BytesRequested: 8}.Execute(t)
	return err
}

// freePortPair returns a loopback port P such that P and P+1 were free.
func freePortPair() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+1)))
		l.Close()
		if err == nil {
			l2.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free pair of loopback ports")
}

// swtpmState reports whether dir holds a managed swtpm's state.
func swtpmState(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, SWTPMDir))
	return err == nil
}
