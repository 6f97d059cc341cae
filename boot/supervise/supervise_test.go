package supervise

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock records restart delays and lets a test stretch a run.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	delays []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.delays = append(c.delays, d)
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func (c *fakeClock) Delays() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.delays...)
}

// statusLog collects status lines.
type statusLog struct {
	mu    sync.Mutex
	lines []string
	hook  func(line string)
}

func (l *statusLog) add(line string) {
	l.mu.Lock()
	l.lines = append(l.lines, line)
	hook := l.hook
	l.mu.Unlock()
	if hook != nil {
		hook(line)
	}
}

func (l *statusLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func waitDone(t *testing.T, h *Handle) {
	t.Helper()
	select {
	case <-h.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("service %s did not finish; log %q", h.svc.Name, h.Lines())
	}
}

// counterScript fails with 1 until run n, where it exits 125.
func counterScript(dir string, n int) string {
	f := filepath.Join(dir, "count")
	return fmt.Sprintf(`n=$(cat %[1]s 2>/dev/null || echo 0); n=$((n+1)); echo $n > %[1]s; echo "run $n"; [ $n -ge %[2]d ] && exit 125; exit 1`, f, n)
}

func TestBackoff(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name   string
		runs   int
		max    time.Duration
		stable int // run number (1-based) that lasts long; 0 for none
		want   []time.Duration
	}{
		{"grows", 6, time.Second, 0, []time.Duration{1 * ms, 2 * ms, 4 * ms, 8 * ms, 16 * ms}},
		{"capped", 6, 4 * ms, 0, []time.Duration{1 * ms, 2 * ms, 4 * ms, 4 * ms, 4 * ms}},
		{"resets after stable run", 6, time.Second, 3, []time.Duration{1 * ms, 2 * ms, 1 * ms, 2 * ms, 4 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{now: time.Unix(1e9, 0)}
			st := &statusLog{}
			starts := 0
			st.hook = func(line string) {
				if strings.HasPrefix(line, "svc: started pid") {
					starts++
					if starts == tt.stable {
						clk.advance(time.Hour)
					}
				}
			}
			s := New(Config{
				Status:  st.add,
				Backoff: Backoff{Initial: ms, Max: tt.max, Stable: time.Minute},
				Now:     clk.Now,
				After:   clk.After,
			})
			h, err := s.Start(Service{Name: "svc", Path: "/bin/sh", Args: []string{"-c", counterScript(t.TempDir(), tt.runs)}})
			if err != nil {
				t.Fatal(err)
			}
			waitDone(t, h)
			if diff := cmp.Diff(tt.want, clk.Delays()); diff != "" {
				t.Errorf("delays (-want +got):\n%s", diff)
			}
			if got := h.Starts(); got != tt.runs {
				t.Errorf("Starts() = %d, want %d", got, tt.runs)
			}
			lines := st.get()
			if last := lines[len(lines)-1]; last != "svc: exited 125, not restarting" {
				t.Errorf("last status %q", last)
			}
			if !strings.Contains(strings.Join(lines, "\n"), "svc: exited 1, restart in 1ms") {
				t.Errorf("status lines %q lack the restart report", lines)
			}
			if err := s.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestExit125NotRestarted(t *testing.T) {
	clk := &fakeClock{}
	s := New(Config{Now: clk.Now, After: clk.After})
	h, err := s.Start(Service{Name: "once", Path: "/bin/sh", Args: []string{"-c", "exit 125"}})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, h)
	if h.Starts() != 1 || len(clk.Delays()) != 0 {
		t.Errorf("starts %d, delays %v; want 1 start, no delay", h.Starts(), clk.Delays())
	}
}

func TestStartFailureRetried(t *testing.T) {
	clk := &fakeClock{}
	st := &statusLog{}
	s := New(Config{Status: st.add, Now: clk.Now, After: clk.After, Backoff: Backoff{Initial: time.Millisecond}})
	h, err := s.Start(Service{Name: "missing", Path: filepath.Join(t.TempDir(), "nope")})
	if err != nil {
		t.Fatal(err)
	}
	for len(clk.Delays()) < 3 {
		time.Sleep(time.Millisecond)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitDone(t, h)
	if h.Starts() != 0 {
		t.Errorf("Starts() = %d for a missing program", h.Starts())
	}
	if l := st.get(); !strings.HasPrefix(l[0], "missing: start failed:") {
		t.Errorf("status %q", l)
	}
}

func TestRingKeepsLastLines(t *testing.T) {
	var out bytes.Buffer
	var outMu sync.Mutex
	s := New(Config{})
	long := strings.Repeat("x", MaxLineBytes+100)
	h, err := s.Start(Service{
		Name:     "chatty",
		Path:     "/bin/sh",
		Args:     []string{"-c", `i=1; while [ $i -le 10 ]; do echo "line $i"; i=$((i+1)); done; echo err >&2; echo ` + long + `; printf tail; exit 125`},
		LogLines: 4,
		Output:   lockedWriter{&outMu, &out},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, h)
	want := []string{"line 10", "err", long[:MaxLineBytes], "tail"}
	if diff := cmp.Diff(want, h.Lines()); diff != "" {
		t.Errorf("Lines() (-want +got):\n%s", diff)
	}
	outMu.Lock()
	defer outMu.Unlock()
	if !strings.Contains(out.String(), "chatty: line 1\n") {
		t.Errorf("Output lacks prefixed line: %q", out.String()[:40])
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestRing(t *testing.T) {
	r := newRing(3)
	if got := r.lines(); len(got) != 0 {
		t.Fatalf("empty ring has %q", got)
	}
	for i := range 5 {
		r.add(strconv.Itoa(i))
	}
	if diff := cmp.Diff([]string{"2", "3", "4"}, r.lines()); diff != "" {
		t.Error(diff)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestGroupKilledAfterExit(t *testing.T) {
	s := New(Config{})
	// The leader leaves a background sleeper in its group and exits.
	h, err := s.Start(Service{Name: "leaky", Path: "/bin/sh", Args: []string{"-c", `sleep 300 & echo "bg $!"; exit 125`}})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, h)
	lines := h.Lines()
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "bg ") {
		t.Fatalf("lines %q", lines)
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(lines[0], "bg "))
	if err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
}

func TestStop(t *testing.T) {
	tests := []struct {
		name   string
		script string
		grace  time.Duration
		want   string
	}{
		{"term", `echo up; exec sleep 300`, time.Minute, "svc: killed by terminated, stopped"},
		{"kill after grace", `trap '' TERM; echo up; while :; do sleep 0.05; done`, 50 * time.Millisecond, "svc: killed by killed, stopped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &statusLog{}
			s := New(Config{Status: st.add, Grace: tt.grace})
			h, err := s.Start(Service{Name: "svc", Path: "/bin/sh", Args: []string{"-c", tt.script}})
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for len(h.Lines()) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("service never started")
				}
				time.Sleep(5 * time.Millisecond)
			}
			pid := h.Pid()
			if err := s.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
			waitDone(t, h)
			waitGone(t, pid)
			lines := st.get()
			if got := lines[len(lines)-1]; got != tt.want {
				t.Errorf("last status %q, want %q", got, tt.want)
			}
			if _, err := s.Start(Service{Name: "late", Path: "/bin/true"}); err != ErrStopped {
				t.Errorf("Start after Stop: %v, want ErrStopped", err)
			}
		})
	}
}

func TestStopContextForcesKill(t *testing.T) {
	s := New(Config{Grace: time.Hour})
	h, err := s.Start(Service{Name: "stubborn", Path: "/bin/sh", Args: []string{"-c", `trap '' TERM; echo up; while :; do sleep 0.05; done`}})
	if err != nil {
		t.Fatal(err)
	}
	for len(h.Lines()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v (services should be reaped after the forced kill)", err)
	}
	waitDone(t, h)
}

func TestInvalidService(t *testing.T) {
	s := New(Config{})
	for _, svc := range []Service{{Path: "/bin/true"}, {Name: "x"}} {
		if _, err := s.Start(svc); err != ErrInvalidService {
			t.Errorf("Start(%+v) = %v, want ErrInvalidService", svc, err)
		}
	}
}

func TestReaperRejectsPipes(t *testing.T) {
	cmd := exec.Command("/bin/true")
	cmd.Stdout = &bytes.Buffer{}
	if _, err := (directWaiter{}).start(cmd); err != ErrNotFile {
		t.Errorf("start with a buffer: %v, want ErrNotFile", err)
	}
}

// The reaper test runs in a child process: becoming a subreaper and reaping
// with wait4(-1) would disturb the other tests' children.
const reaperChildEnv = "SUPERVISE_TEST_REAPER_CHILD"

func TestReaper(t *testing.T) {
	if os.Getenv(reaperChildEnv) == "1" {
		reaperChild()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestReaper$", "-test.v")
	cmd.Env = append(os.Environ(), reaperChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "REAPER OK") {
		t.Fatalf("child output:\n%s", out)
	}
}

func reaperChild() {
	fail := func(format string, args ...any) {
		fmt.Printf("REAPER FAIL: "+format+"\n", args...)
		os.Exit(1)
	}
	orphans := make(chan int, 16)
	r, err := NewReaper(true, func(pid int, _ syscall.WaitStatus) { orphans <- pid })
	if err != nil {
		fail("NewReaper: %v", err)
	}
	defer r.Close()

	// A child that leaves an orphan behind; its own status must reach us.
	rd, w, err := os.Pipe()
	if err != nil {
		fail("%v", err)
	}
	cmd := exec.Command("/bin/sh", "-c", `sleep 0.2 & echo $!; exit 7`)
	cmd.Stdout = w
	ch, err := r.Start(cmd)
	w.Close()
	if err != nil {
		fail("Start: %v", err)
	}
	var orphan int
	if _, err := fmt.Fscan(rd, &orphan); err != nil {
		fail("read orphan pid: %v", err)
	}
	select {
	case ws := <-ch:
		if !ws.Exited() || ws.ExitStatus() != 7 {
			fail("status %v, want exit 7", ws)
		}
	case <-time.After(10 * time.Second):
		fail("no status for the started child")
	}
	select {
	case pid := <-orphans:
		if pid != orphan {
			fail("reaped orphan %d, want %d", pid, orphan)
		}
	case <-time.After(10 * time.Second):
		fail("orphan %d not reaped", orphan)
	}

	// Many quick children through a supervisor using the reaper.
	dir, err := os.MkdirTemp("", "reaper")
	if err != nil {
		fail("%v", err)
	}
	defer os.RemoveAll(dir)
	s := New(Config{Reaper: r, Backoff: Backoff{Initial: time.Millisecond, Max: time.Millisecond}})
	h, err := s.Start(Service{Name: "quick", Path: "/bin/sh", Args: []string{"-c", counterScript(dir, 20)}})
	if err != nil {
		fail("%v", err)
	}
	select {
	case <-h.Done():
	case <-time.After(30 * time.Second):
		fail("supervised service under reaper never finished: %q", h.Lines())
	}
	if h.Starts() != 20 {
		fail("starts %d, want 20", h.Starts())
	}
	fmt.Println("REAPER OK")
}

// TestStdinPerStart checks that Stdin is called for every run and that the
// child reads what it returns.
func TestStdinPerStart(t *testing.T) {
	clk := &fakeClock{}
	dir := t.TempDir()
	calls := 0
	var mu sync.Mutex
	stdin := func() (*os.File, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(w, "secret-%d\n", n)
		w.Close()
		return r, nil
	}
	s := New(Config{Now: clk.Now, After: clk.After})
	h, err := s.Start(Service{Name: "reader", Path: "/bin/sh", Stdin: stdin,
		Args: []string{"-c", "read l; echo got $l; " + counterScript(dir, 2)}})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, h)
	var got []string
	for _, l := range h.Lines() {
		if strings.HasPrefix(l, "got ") {
			got = append(got, l)
		}
	}
	if diff := cmp.Diff([]string{"got secret-1", "got secret-2"}, got); diff != "" {
		t.Errorf("stdin lines (-want +got):\n%s", diff)
	}
}
