package supervise

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// ExitDoNotRestart is the exit code with which a service asks not to be
// restarted.
const ExitDoNotRestart = 125

// MaxLineBytes bounds one log line kept in a ring; longer lines are cut.
const MaxLineBytes = 4096

// ErrStopped is returned by Supervisor.Start after Stop has been called.
var ErrStopped = errors.New("supervise: supervisor stopped")

// ErrInvalidService is returned by Supervisor.Start for a service without a
// name or path.
var ErrInvalidService = errors.New("supervise: invalid service")

// Backoff is the restart delay policy.
type Backoff struct {
	// Initial is the delay before the first restart. Zero means 1s.
	Initial time.Duration
	// Max caps the delay. Zero means 1m.
	Max time.Duration
	// Stable is how long a run must last for the delay to reset to Initial.
	// Zero means 30s.
	Stable time.Duration
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = time.Second
	}
	if b.Max <= 0 {
		b.Max = time.Minute
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.Stable <= 0 {
		b.Stable = 30 * time.Second
	}
	return b
}

// Config configures a Supervisor.
type Config struct {
	// Status receives one-line status reports such as "kmipd: started pid
	// 42". It is called from the service goroutines and must not block for
	// long. Nil discards them.
	Status func(line string)
	// Backoff is the restart policy; see Backoff for the zero values.
	Backoff Backoff
	// Grace is how long Stop waits after SIGTERM before SIGKILL. Zero means
	// 5s.
	Grace time.Duration
	// Reaper, if not nil, starts and waits for every child. A PID 1 must set
	// it. Nil waits for each child directly.
	Reaper *Reaper
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// After waits for a restart delay. Nil means time.After.
	After func(time.Duration) <-chan time.Time
}

// Service describes one supervised program.
type Service struct {
	// Name identifies the service in status lines. Required.
	Name string
	// Path is the program to run. Required.
	Path string
	// Args are the arguments after the program name.
	Args []string
	// Env is the environment; nil means the supervisor's environment.
	Env []string
	// Dir is the working directory; empty means the supervisor's.
	Dir string
	// LogLines is the size of the log ring. Zero means 100.
	LogLines int
	// Output, if not nil, receives each log line prefixed with "name: ".
	Output io.Writer
	// Stdin, if not nil, is called before each start and returns the
	// service's standard input (e.g. a pipe carrying a key). The
	// supervisor closes the returned file in the parent once the child has
	// started (or failed to). Nil means /dev/null.
	Stdin func() (*os.File, error)
}

// Supervisor runs services. Create it with New.
type Supervisor struct {
	cfg    Config
	waiter waiter

	mu       sync.Mutex
	stopping bool
	handles  []*Handle
	stop     chan struct{}
	killNow  chan struct{}
	wg       sync.WaitGroup
}

// New returns a supervisor with no services.
func New(cfg Config) *Supervisor {
	cfg.Backoff = cfg.Backoff.withDefaults()
	if cfg.Grace <= 0 {
		cfg.Grace = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	s := &Supervisor{cfg: cfg, stop: make(chan struct{}), killNow: make(chan struct{})}
	if cfg.Reaper != nil {
		s.waiter = cfg.Reaper
	} else {
		s.waiter = directWaiter{}
	}
	return s
}

// Handle observes one supervised service.
type Handle struct {
	svc  Service
	ring *ring
	done chan struct{}

	mu     sync.Mutex
	pid    int
	starts int
}

// Lines returns a copy of the last log lines of the service, oldest first.
func (h *Handle) Lines() []string { return h.ring.lines() }

// Done is closed when the service will not run again (exit 125 or Stop).
func (h *Handle) Done() <-chan struct{} { return h.done }

// Pid returns the pid of the running service process, or 0.
func (h *Handle) Pid() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pid
}

// Starts returns how many times the service process was started.
func (h *Handle) Starts() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.starts
}

// Start begins supervising svc and returns immediately.
func (s *Supervisor) Start(svc Service) (*Handle, error) {
	if svc.Name == "" || svc.Path == "" {
		return nil, ErrInvalidService
	}
	if svc.LogLines <= 0 {
		svc.LogLines = 100
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return nil, ErrStopped
	}
	h := &Handle{svc: svc, ring: newRing(svc.LogLines), done: make(chan struct{})}
	s.handles = append(s.handles, h)
	s.wg.Add(1)
	go s.run(h)
	return h, nil
}

// Stop stops every service: SIGTERM to each process group, SIGKILL after
// Config.Grace or when ctx ends, whichever is first. It returns nil once
// every service has been reaped, or ctx.Err() if services are still not
// reaped a second after SIGKILL.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.stopping {
		s.stopping = true
		close(s.stop)
	}
	s.mu.Unlock()
	all := make(chan struct{})
	go func() { s.wg.Wait(); close(all) }()
	select {
	case <-all:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	select {
	case <-s.killNow:
	default:
		close(s.killNow)
	}
	s.mu.Unlock()
	select {
	case <-all:
		return nil
	case <-time.After(time.Second):
		return ctx.Err()
	}
}

func (s *Supervisor) status(format string, args ...any) {
	if s.cfg.Status != nil {
		s.cfg.Status(fmt.Sprintf(format, args...))
	}
}

func (s *Supervisor) run(h *Handle) {
	defer s.wg.Done()
	defer close(h.done)
	name := h.svc.Name
	delay := time.Duration(0)
	for {
		select {
		case <-s.stop:
			s.status("%s: stopped", name)
			return
		default:
		}
		started := s.cfg.Now()
		ws, err := s.runOnce(h)
		ran := s.cfg.Now().Sub(started)
		stopped := false
		select {
		case <-s.stop:
			stopped = true
		default:
		}
		switch {
		case stopped:
			if err == nil {
				s.status("%s: %s, stopped", name, describe(ws))
			} else {
				s.status("%s: stopped", name)
			}
			return
		case err == nil && ws.Exited() && ws.ExitStatus() == ExitDoNotRestart:
			s.status("%s: exited %d, not restarting", name, ExitDoNotRestart)
			return
		}
		if delay == 0 || ran >= s.cfg.Backoff.Stable {
			delay = s.cfg.Backoff.Initial
		} else {
			delay = min(delay*2, s.cfg.Backoff.Max)
		}
		if err != nil {
			s.status("%s: start failed: %v, restart in %v", name, err, delay)
		} else {
			s.status("%s: %s, restart in %v", name, describe(ws), delay)
		}
		select {
		case <-s.cfg.After(delay):
		case <-s.stop:
			s.status("%s: stopped", name)
			return
		}
	}
}

func describe(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exited %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("killed by %v", ws.Signal())
	default:
		return fmt.Sprintf("ended (status %#x)", uint32(ws))
	}
}

// runOnce starts the service once and returns its wait status after the
// process exited and its process group was killed.
func (s *Supervisor) runOnce(h *Handle) (syscall.WaitStatus, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(h.svc.Path, h.svc.Args...)
	cmd.Env = h.svc.Env
	cmd.Dir = h.svc.Dir
	cmd.Stdout = w
	cmd.Stderr = w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if h.svc.Stdin != nil {
		in, err := h.svc.Stdin()
		if err != nil {
			r.Close()
			w.Close()
			return 0, fmt.Errorf("stdin: %w", err)
		}
		cmd.Stdin = in
	}
	exited, err := s.waiter.start(cmd)
	w.Close()
	if f, ok := cmd.Stdin.(*os.File); ok {
		f.Close()
	}
	if err != nil {
		r.Close()
		return 0, err
	}
	pid := cmd.Process.Pid
	h.mu.Lock()
	h.pid = pid
	h.starts++
	h.mu.Unlock()
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		defer r.Close()
		h.ring.copyFrom(r, h.svc.Name, h.svc.Output)
	}()
	s.status("%s: started pid %d", h.svc.Name, pid)

	var ws syscall.WaitStatus
	var kill <-chan time.Time
	stop, killNow := s.stop, s.killNow
	for done := false; !done; {
		select {
		case ws = <-exited:
			done = true
		case <-stop:
			stop = nil
			_ = syscall.Kill(-pid, syscall.SIGTERM)
			kill = time.After(s.cfg.Grace)
		case <-kill:
			kill = nil
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		case <-killNow:
			killNow = nil
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
	// The leader is gone; take the rest of its group with it.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	h.mu.Lock()
	h.pid = 0
	h.mu.Unlock()
	// Once the group is dead the pipe reaches EOF, unless a process left the
	// group holding it; do not wait for that forever.
	select {
	case <-logDone:
	case <-time.After(time.Second):
	}
	return ws, nil
}

// ring keeps the last n lines.
type ring struct {
	mu   sync.Mutex
	buf  []string
	next int
	full bool
}

func newRing(n int) *ring { return &ring{buf: make([]string, n)} }

func (r *ring) add(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf[r.next] = line
	r.next++
	if r.next == len(r.buf) {
		r.next = 0
		r.full = true
	}
}

func (r *ring) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	if r.full {
		out = append(out, r.buf[r.next:]...)
	}
	return append(out, r.buf[:r.next]...)
}

// copyFrom splits rd into lines of at most MaxLineBytes bytes and adds them.
func (r *ring) copyFrom(rd io.Reader, name string, out io.Writer) {
	br := bufio.NewReaderSize(rd, MaxLineBytes)
	for {
		line, isPrefix, err := br.ReadLine()
		if len(line) > 0 || (err == nil && !isPrefix) {
			s := string(line)
			r.add(s)
			if out != nil {
				fmt.Fprintf(out, "%s: %s\n", name, s)
			}
		}
		// Discard the rest of an over-long line.
		for isPrefix && err == nil {
			_, isPrefix, err = br.ReadLine()
		}
		if err != nil {
			return
		}
	}
}
