package server

import (
	"sync"
	"time"
)

const (
	logBurst  = 10          // lines per message per window
	logWindow = time.Minute // window length
	maxKeys   = 64          // distinct messages tracked
)

// logLimiter allows at most burst log lines per message key per window,
// and counts what it suppressed. Its memory is bounded by maxKeys.
type logLimiter struct {
	now    func() time.Time
	burst  int
	window time.Duration

	mu   sync.Mutex
	keys map[string]*logBucket
}

type logBucket struct {
	start      time.Time
	n          int
	suppressed int
}

func newLogLimiter(now func() time.Time, burst int, window time.Duration) *logLimiter {
	return &logLimiter{now: now, burst: burst, window: window, keys: make(map[string]*logBucket)}
}

// allow reports whether a line with key may be logged now and, if so, how
// many lines with that key were suppressed since the last allowed one.
func (l *logLimiter) allow(key string) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.keys[key]
	if b == nil {
		if len(l.keys) >= maxKeys {
			clear(l.keys)
		}
		b = &logBucket{start: now}
		l.keys[key] = b
	}
	if now.Sub(b.start) >= l.window || now.Before(b.start) {
		b.start, b.n = now, 0
	}
	if b.n >= l.burst {
		b.suppressed++
		return false, 0
	}
	b.n++
	suppressed, b.suppressed = b.suppressed, 0
	return true, suppressed
}
