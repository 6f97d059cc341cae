package rpc

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"sync"
	"time"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/hsm/object"
)

// MaxConns bounds the connections a Server serves at once; further
// connections wait in the listener's backlog.
const MaxConns = 64

// Server serves an hsm.API on a listener.
type Server struct {
	// API is the core to serve. Required.
	API hsm.API
	// Log receives internal errors. Nil means the standard logger.
	Log *log.Logger

	mu     sync.Mutex
	ls     []net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("rpc: server closed")

// Serve accepts connections on l until Close and serves each on its own
// goroutine. It always returns a non-nil error.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.ls = append(s.ls, l)
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
	}
	s.mu.Unlock()
	sem := make(chan struct{}, MaxConns)
	for {
		sem <- struct{}{}
		c, err := l.Accept()
		if err != nil {
			<-sem
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer func() {
				<-sem
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
				s.wg.Done()
			}()
			s.serveConn(c)
		}()
	}
}

// Close stops the listeners, closes every connection and waits for the
// handlers to return.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for _, l := range s.ls {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) logf(format string, args ...any) {
	if s.Log != nil {
		s.Log.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}

func (s *Server) serveConn(c net.Conn) {
	// No bufio: a buffered reader would keep copies of key material.
	for {
		b, err := readFrame(c, MaxRequest)
		if err != nil {
			if errors.Is(err, ErrProtocol) {
				s.logf("hsmd rpc: %v", err)
			}
			return
		}
		var req request
		err = decMode.Unmarshal(b, &req)
		key.Zero(b) // may carry registered key material
		var resp *response
		if err != nil {
			// The frame was well formed, so the stream is still in sync:
			// answer Invalid instead of dropping the connection.
			resp = &response{Code: codeInvalid, Message: "rpc: malformed request"}
		} else {
			resp = s.handle(context.Background(), &req)
		}
		if req.Content != nil {
			key.Zero(req.Content.Secret)
		}
		out, err := encMode.Marshal(resp)
		if resp.Content != nil {
			key.Zero(resp.Content.Secret)
		}
		if err != nil {
			s.logf("hsmd rpc: encoding response: %v", err)
			return
		}
		err = writeFrame(c, out)
		key.Zero(out)
		if err != nil {
			return
		}
	}
}

// errorResponse maps err to a response code. Unknown errors become
// codeInternal with a generic message; the detail is logged.
func (s *Server) errorResponse(err error) *response {
	var ce *hsm.CheckError
	if errors.As(err, &ce) {
		attrs, _ := toWire(ce.Attrs)
		return &response{Code: codeCheck, Message: err.Error(), Attrs: attrs}
	}
	for _, m := range []struct {
		err  error
		code uint8
	}{
		{hsm.ErrNotFound, codeNotFound}, {hsm.ErrPermission, codePermission}, {hsm.ErrWrongState, codeWrongState},
		{hsm.ErrInvalid, codeInvalid}, {hsm.ErrIllegal, codeIllegal}, {hsm.ErrNotSupported, codeNotSupported},
		{hsm.ErrCorrupt, codeCorrupt}, {hsm.ErrAudit, codeAudit},
	} {
		if errors.Is(err, m.err) {
			return &response{Code: m.code, Message: err.Error()}
		}
	}
	s.logf("hsmd rpc: internal error: %v", err)
	return &response{Code: codeInternal, Message: "internal error"}
}

func (s *Server) handle(ctx context.Context, q *request) *response {
	resp, err := s.dispatch(ctx, q)
	if err != nil {
		return s.errorResponse(err)
	}
	return resp
}

func badRequest(err error) error { return fmt.Errorf("rpc: %w", err) }

func (s *Server) dispatch(ctx context.Context, q *request) (*response, error) {
	id := hsm.Identity{Name: q.Who.Name, Groups: q.Who.Groups}
	attrs, err := fromWire(q.Attrs)
	if err != nil {
		return nil, badRequest(err)
	}
	priv, err := fromWire(q.Priv)
	if err != nil {
		return nil, badRequest(err)
	}
	pub, err := fromWire(q.Pub)
	if err != nil {
		return nil, badRequest(err)
	}
	one := func() (object.Attribute, error) {
		if len(attrs) != 1 {
			return object.Attribute{}, fmt.Errorf("rpc: %w: want exactly one attribute", hsm.ErrInvalid)
		}
		return attrs[0], nil
	}
	offset := time.Duration(q.Offset) * time.Second
	if q.Offset < 0 {
		offset = -1
	}
	var occurred time.Time
	if q.Time != 0 {
		occurred = time.Unix(q.Time, 0).UTC()
	}
	r := &response{}
	switch q.Op {
	case opCreate:
		r.UID, err = s.API.Create(ctx, id, object.Type(q.Type), attrs)
	case opCreateKeyPair:
		r.UID, r.UID2, err = s.API.CreateKeyPair(ctx, id, attrs, priv, pub)
	case opRegister:
		if q.Content == nil {
			return nil, fmt.Errorf("rpc: %w: register without content", hsm.ErrInvalid)
		}
		var c hsm.Content
		if c, err = contentFromWire(q.Content); err != nil {
			return nil, err
		}
		r.UID, err = s.API.Register(ctx, id, c, attrs)
		c.Secret.Destroy()
	case opGet:
		var m *hsm.Managed
		if m, err = s.API.Get(ctx, id, q.UID); err == nil {
			r.UID, r.Algorithm, r.Length = m.UID, uint32(m.Algorithm), m.Length
			r.Content, err = contentToWire(m.Content)
			m.Destroy()
		}
	case opGetAttributes:
		var as []object.Attribute
		if as, err = s.API.GetAttributes(ctx, id, q.UID, q.Names); err == nil {
			r.Attrs, err = toWire(as)
		}
	case opGetAttributeList:
		r.Names, err = s.API.GetAttributeList(ctx, id, q.UID)
	case opAddAttribute, opModifyAttribute:
		var a object.Attribute
		if a, err = one(); err != nil {
			return nil, err
		}
		if q.Op == opAddAttribute {
			a, err = s.API.AddAttribute(ctx, id, q.UID, a)
		} else {
			a, err = s.API.ModifyAttribute(ctx, id, q.UID, a)
		}
		if err == nil {
			r.Attrs, err = toWire([]object.Attribute{a})
		}
	case opDeleteAttribute:
		var a object.Attribute
		if a, err = s.API.DeleteAttribute(ctx, id, q.UID, q.Name, q.Index); err == nil {
			r.Attrs, err = toWire([]object.Attribute{a})
		}
	case opActivate:
		err = s.API.Activate(ctx, id, q.UID)
	case opRevoke:
		err = s.API.Revoke(ctx, id, q.UID, object.RevocationReason{Code: object.RevocationReasonCode(q.Reason), Message: q.Message}, occurred)
	case opDestroy:
		err = s.API.Destroy(ctx, id, q.UID)
	case opLocate:
		r.Names, err = s.API.Locate(ctx, id, hsm.Query{MaxItems: q.MaxItems, GroupMember: object.GroupMember(q.GroupMember), Attrs: attrs})
	case opReKey:
		r.UID, err = s.API.ReKey(ctx, id, q.UID, offset, attrs)
	case opReKeyKeyPair:
		r.UID, r.UID2, err = s.API.ReKeyKeyPair(ctx, id, q.UID, offset, attrs, priv, pub)
	case opCheck:
		err = s.API.Check(ctx, id, q.UID, q.Usage)
	case opGetUsageAllocation:
		err = s.API.GetUsageAllocation(ctx, id, q.UID, q.Count)
	default:
		return nil, fmt.Errorf("rpc: %w: operation %d", hsm.ErrNotSupported, q.Op)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

func contentToWire(c hsm.Content) (*wireContent, error) {
	w := &wireContent{Type: uint32(c.Type), Format: uint32(c.Format), Public: c.Public, SubType: c.SubType, Export: uint32(c.ExportFormat)}
	if c.Secret != nil {
		b, err := c.Secret.Bytes()
		if err != nil {
			return nil, err
		}
		w.Secret = append([]byte(nil), b...)
	}
	var err error
	w.Template, err = toWire(c.Template)
	return w, err
}

func contentFromWire(w *wireContent) (hsm.Content, error) {
	c := hsm.Content{Type: object.Type(w.Type), Format: object.KeyFormat(w.Format), Public: w.Public, SubType: w.SubType, ExportFormat: object.KeyFormat(w.Export)}
	if len(w.Secret) > 0 {
		m, err := key.NewMaterial(w.Secret)
		if err != nil {
			return c, fmt.Errorf("rpc: %w: %v", hsm.ErrInvalid, err)
		}
		c.Secret = m
	}
	var err error
	if c.Template, err = fromWire(w.Template); err != nil {
		c.Secret.Destroy()
		return hsm.Content{}, err
	}
	return c, nil
}
