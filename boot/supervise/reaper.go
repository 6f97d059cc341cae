package supervise

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrNotFile is returned by Reaper.Start when a command's Stdin, Stdout or
// Stderr is not nil or an *os.File: such commands need exec.Cmd.Wait to
// finish their copying goroutines, which a Reaper cannot call.
var ErrNotFile = errors.New("supervise: command stdio must be nil or *os.File")

// ErrClosed is returned by Reaper.Start after Close.
var ErrClosed = errors.New("supervise: reaper closed")

// waiter starts a command and delivers its wait status exactly once.
type waiter interface {
	start(cmd *exec.Cmd) (<-chan syscall.WaitStatus, error)
}

// directWaiter waits for each child with os.Process.Wait. It is used when no
// Reaper is configured (tests, "coffer serve" on a host).
type directWaiter struct{}

func (directWaiter) start(cmd *exec.Cmd) (<-chan syscall.WaitStatus, error) {
	if err := checkStdio(cmd); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := make(chan syscall.WaitStatus, 1)
	go func() {
		st, err := cmd.Process.Wait()
		if err != nil {
			// Cannot happen for a child we started; report a killed child.
			ch <- syscall.WaitStatus(syscall.SIGKILL)
			return
		}
		ch <- st.Sys().(syscall.WaitStatus)
	}()
	return ch, nil
}

// Reaper is the single place where a PID 1 waits for children. It reaps every
// child of the process on SIGCHLD; exits of children started with Start are
// delivered to their starter, all others are orphans passed to the orphan
// callback. The zero value is not usable; call NewReaper.
type Reaper struct {
	mu      sync.Mutex
	waiting map[int]chan syscall.WaitStatus
	closed  bool

	orphan func(pid int, status syscall.WaitStatus)
	sig    chan os.Signal
	quit   chan struct{}
	done   chan struct{}
}

// NewReaper starts reaping children of this process. orphan, if not nil, is
// called (from the reaper goroutine) for each reaped process that was not
// started through Start. If subreaper is true the process also becomes a
// child subreaper (PR_SET_CHILD_SUBREAPER), so orphans of its descendants are
// re-parented to it even when it is not PID 1. Call Close to stop.
func NewReaper(subreaper bool, orphan func(pid int, status syscall.WaitStatus)) (*Reaper, error) {
	if subreaper {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return nil, fmt.Errorf("supervise: set child subreaper: %w", err)
		}
	}
	r := &Reaper{
		waiting: make(map[int]chan syscall.WaitStatus),
		orphan:  orphan,
		sig:     make(chan os.Signal, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	signal.Notify(r.sig, syscall.SIGCHLD)
	go r.loop()
	return r, nil
}

func (r *Reaper) loop() {
	defer close(r.done)
	for {
		r.reapAll()
		select {
		case <-r.sig:
		case <-r.quit:
			return
		}
	}
}

// reapAll reaps every exited child. The lock is held across each wait4 call
// and its bookkeeping so that Start's fork and registration are atomic with
// respect to reaping.
func (r *Reaper) reapAll() {
	for {
		var ws syscall.WaitStatus
		r.mu.Lock()
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			r.mu.Unlock()
			continue
		}
		if pid <= 0 || err != nil {
			r.mu.Unlock()
			return
		}
		ch, ok := r.waiting[pid]
		delete(r.waiting, pid)
		r.mu.Unlock()
		if ok {
			ch <- ws
		} else if r.orphan != nil {
			r.orphan(pid, ws)
		}
	}
}

// Start starts cmd and returns a channel that receives its wait status once.
// cmd's Stdin, Stdout and Stderr must be nil or *os.File (ErrNotFile
// otherwise). The caller must not call cmd.Wait or cmd.Process.Wait.
func (r *Reaper) Start(cmd *exec.Cmd) (<-chan syscall.WaitStatus, error) {
	if err := checkStdio(cmd); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := make(chan syscall.WaitStatus, 1)
	r.waiting[cmd.Process.Pid] = ch
	return ch, nil
}

func (r *Reaper) start(cmd *exec.Cmd) (<-chan syscall.WaitStatus, error) { return r.Start(cmd) }

// Close stops reaping. Children still registered never receive a status.
func (r *Reaper) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.mu.Unlock()
	signal.Stop(r.sig)
	close(r.quit)
	<-r.done
}

func checkStdio(cmd *exec.Cmd) error {
	if cmd.Stdin != nil {
		if _, ok := cmd.Stdin.(*os.File); !ok {
			return ErrNotFile
		}
	}
	for _, w := range []any{cmd.Stdout, cmd.Stderr} {
		if w == nil {
			continue
		}
		if _, ok := w.(*os.File); !ok {
			return ErrNotFile
		}
	}
	return nil
}
