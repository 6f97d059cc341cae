package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
)

// memory is a DB held in memory. It has the semantics of the disk backend
// except durability: nothing survives Close.
type memory struct {
	mu     sync.RWMutex
	closed bool
	seq    uint64 // last creation sequence assigned
	uid    uint64 // last UID counter value handed out
	recs   map[string]*memRecord
	byTerm map[Term]map[string]struct{}
}

type memRecord struct {
	seq   uint64
	data  []byte
	terms []Term
}

// NewMemory returns an empty in-memory DB, for unit tests. It has the
// semantics of the disk backend except durability: nothing survives Close.
func NewMemory() DB {
	return &memory{
		recs:   make(map[string]*memRecord),
		byTerm: make(map[Term]map[string]struct{}),
	}
}

// Put implements DB.Put.
func (m *memory) Put(ctx context.Context, recs ...Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validatePut(recs); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, r := range recs {
		old := m.recs[r.UID]
		nr := &memRecord{data: slices.Clone(r.Data), terms: dedupTerms(r.Terms)}
		if nr.data == nil {
			nr.data = []byte{}
		}
		if old != nil {
			nr.seq = old.seq
			for _, t := range old.terms {
				set := m.byTerm[t]
				delete(set, r.UID)
				if len(set) == 0 {
					delete(m.byTerm, t)
				}
			}
		} else {
			m.seq++
			nr.seq = m.seq
		}
		for _, t := range nr.terms {
			set := m.byTerm[t]
			if set == nil {
				set = make(map[string]struct{})
				m.byTerm[t] = set
			}
			set[r.UID] = struct{}{}
		}
		m.recs[r.UID] = nr
	}
	return nil
}

// Get implements DB.Get.
func (m *memory) Get(ctx context.Context, uid string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	r, ok := m.recs[uid]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, uid)
	}
	return slices.Clone(r.data), nil
}

// Find implements DB.Find.
func (m *memory) Find(ctx context.Context, terms []Term, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateTerms(terms, MaxTerms); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	var cand []string
	if len(terms) == 0 {
		for uid := range m.recs {
			cand = append(cand, uid)
		}
	} else {
		// Start from the smallest set, keep UIDs present in every other.
		sets := make([]map[string]struct{}, len(terms))
		for i, t := range terms {
			sets[i] = m.byTerm[t]
		}
		slices.SortFunc(sets, func(a, b map[string]struct{}) int { return len(a) - len(b) })
	outer:
		for uid := range sets[0] {
			for _, s := range sets[1:] {
				if _, ok := s[uid]; !ok {
					continue outer
				}
			}
			cand = append(cand, uid)
		}
	}
	slices.SortFunc(cand, func(a, b string) int {
		sa, sb := m.recs[a].seq, m.recs[b].seq
		switch {
		case sa > sb:
			return -1
		case sa < sb:
			return 1
		}
		return 0
	})
	if limit > 0 && len(cand) > limit {
		cand = cand[:limit]
	}
	if cand == nil {
		cand = []string{}
	}
	return cand, nil
}

// NewUID implements DB.NewUID.
func (m *memory) NewUID(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return "", ErrClosed
	}
	for {
		m.uid++
		uid := strconv.FormatUint(m.uid, 10)
		if _, taken := m.recs[uid]; !taken {
			return uid, nil
		}
	}
}

// Close implements DB.Close.
func (m *memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.closed = true
	m.recs, m.byTerm = nil, nil
	return nil
}
