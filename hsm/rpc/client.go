package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/hsm/object"
)

// MaxIdle bounds the idle connections a Client keeps.
const MaxIdle = 16

// Client is an hsm.API over the RPC. It keeps a pool of connections, one
// request in flight on each; it is safe for concurrent use. Errors wrap the
// hsm sentinels (hsm.ErrNotFound, …), or ErrProtocol / a network error
// when the transport fails.
type Client struct {
	dial func(ctx context.Context) (net.Conn, error)

	mu     sync.Mutex
	idle   []*clientConn
	closed bool
}

type clientConn struct {
	c net.Conn // unbuffered: a buffer would keep copies of key material
}

var _ hsm.API = (*Client)(nil)

// Dial returns a Client for the unix socket at path. Connections are made
// on demand.
func Dial(path string) *Client {
	var d net.Dialer
	return NewClient(func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "unix", path) })
}

// NewClient returns a Client that makes connections with dial.
func NewClient(dial func(ctx context.Context) (net.Conn, error)) *Client {
	return &Client{dial: dial}
}

// Close closes the idle connections; later calls fail.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, cc := range c.idle {
		cc.c.Close()
	}
	c.idle = nil
	return nil
}

var errClientClosed = errors.New("rpc: client closed")

func (c *Client) get(ctx context.Context) (*clientConn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errClientClosed
	}
	if n := len(c.idle); n > 0 {
		cc := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return cc, nil
	}
	c.mu.Unlock()
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("rpc: dial: %w", err)
	}
	return &clientConn{c: conn}, nil
}

func (c *Client) put(cc *clientConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || len(c.idle) >= MaxIdle {
		cc.c.Close()
		return
	}
	c.idle = append(c.idle, cc)
}

// call sends q and returns the decoded response, or the error it carries.
func (c *Client) call(ctx context.Context, id hsm.Identity, q *request) (*response, error) {
	if err := id.Valid(); err != nil {
		return nil, err
	}
	q.Who = wireIdentity{Name: id.Name, Groups: id.Groups}
	b, err := encMode.Marshal(q)
	if q.Content != nil {
		key.Zero(q.Content.Secret)
	}
	if err != nil {
		return nil, fmt.Errorf("rpc: encoding request: %w", err)
	}
	defer key.Zero(b)
	if len(b) > MaxRequest {
		return nil, fmt.Errorf("%w: request of %d bytes", hsm.ErrInvalid, len(b))
	}
	cc, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		cc.c.SetDeadline(dl)
	} else {
		cc.c.SetDeadline(time.Time{})
	}
	if err := writeFrame(cc.c, b); err != nil {
		cc.c.Close()
		return nil, fmt.Errorf("rpc: send: %w", err)
	}
	out, err := readFrame(cc.c, MaxResponse)
	if err != nil {
		cc.c.Close()
		return nil, fmt.Errorf("rpc: receive: %w", err)
	}
	c.put(cc)
	var r response
	err = decMode.Unmarshal(out, &r)
	key.Zero(out)
	if err != nil {
		return nil, fmt.Errorf("%w: response: %v", ErrProtocol, err)
	}
	if r.Code != codeOK {
		return nil, remoteError(&r)
	}
	return &r, nil
}

// RemoteError is an error reported by hsmd. It wraps the matching hsm
// sentinel.
type RemoteError struct {
	Message string
	err     error
}

func (e *RemoteError) Error() string { return e.Message }

// Unwrap returns the hsm sentinel.
func (e *RemoteError) Unwrap() error { return e.err }

var errInternal = errors.New("rpc: internal error in hsmd")

func remoteError(r *response) error {
	if r.Code == codeCheck {
		attrs, err := fromWire(r.Attrs)
		if err != nil {
			return fmt.Errorf("%w: check attributes: %v", ErrProtocol, err)
		}
		return &hsm.CheckError{Attrs: attrs}
	}
	sentinel := map[uint8]error{
		codeNotFound: hsm.ErrNotFound, codePermission: hsm.ErrPermission, codeWrongState: hsm.ErrWrongState,
		codeInvalid: hsm.ErrInvalid, codeIllegal: hsm.ErrIllegal, codeNotSupported: hsm.ErrNotSupported,
		codeCorrupt: hsm.ErrCorrupt, codeAudit: hsm.ErrAudit,
	}[r.Code]
	if sentinel == nil {
		sentinel = errInternal
	}
	return &RemoteError{Message: r.Message, err: sentinel}
}

func oneAttr(r *response) (object.Attribute, error) {
	as, err := fromWire(r.Attrs)
	if err != nil || len(as) != 1 {
		return object.Attribute{}, fmt.Errorf("%w: want one attribute in response", ErrProtocol)
	}
	return as[0], nil
}

func seconds(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return int64(d / time.Second)
}

// Create implements hsm.API.
func (c *Client) Create(ctx context.Context, id hsm.Identity, t object.Type, attrs []object.Attribute) (string, error) {
	w, err := toWire(attrs)
	if err != nil {
		return "", err
	}
	r, err := c.call(ctx, id, &request{Op: opCreate, Type: uint32(t), Attrs: w})
	if err != nil {
		return "", err
	}
	return r.UID, nil
}

// CreateKeyPair implements hsm.API.
func (c *Client) CreateKeyPair(ctx context.Context, id hsm.Identity, common, priv, pub []object.Attribute) (string, string, error) {
	q := &request{Op: opCreateKeyPair}
	var err error
	if q.Attrs, err = toWire(common); err != nil {
		return "", "", err
	}
	if q.Priv, err = toWire(priv); err != nil {
		return "", "", err
	}
	if q.Pub, err = toWire(pub); err != nil {
		return "", "", err
	}
	r, err := c.call(ctx, id, q)
	if err != nil {
		return "", "", err
	}
	return r.UID, r.UID2, nil
}

// Register implements hsm.API.
func (c *Client) Register(ctx context.Context, id hsm.Identity, content hsm.Content, attrs []object.Attribute) (string, error) {
	w, err := toWire(attrs)
	if err != nil {
		return "", err
	}
	wc, err := contentToWire(content)
	if err != nil {
		return "", fmt.Errorf("rpc: %w: %v", hsm.ErrInvalid, err)
	}
	r, err := c.call(ctx, id, &request{Op: opRegister, Attrs: w, Content: wc})
	if err != nil {
		return "", err
	}
	return r.UID, nil
}

// Get implements hsm.API. The caller owns the returned secret.
func (c *Client) Get(ctx context.Context, id hsm.Identity, uid string) (*hsm.Managed, error) {
	r, err := c.call(ctx, id, &request{Op: opGet, UID: uid})
	if err != nil {
		return nil, err
	}
	if r.Content == nil {
		return nil, fmt.Errorf("%w: Get response without content", ErrProtocol)
	}
	content, err := contentFromWire(r.Content)
	key.Zero(r.Content.Secret)
	if err != nil {
		return nil, err
	}
	return &hsm.Managed{UID: r.UID, Content: content, Algorithm: object.Algorithm(r.Algorithm), Length: r.Length}, nil
}

// GetAttributes implements hsm.API.
func (c *Client) GetAttributes(ctx context.Context, id hsm.Identity, uid string, names []string) ([]object.Attribute, error) {
	r, err := c.call(ctx, id, &request{Op: opGetAttributes, UID: uid, Names: names})
	if err != nil {
		return nil, err
	}
	return fromWire(r.Attrs)
}

// GetAttributeList implements hsm.API.
func (c *Client) GetAttributeList(ctx context.Context, id hsm.Identity, uid string) ([]string, error) {
	r, err := c.call(ctx, id, &request{Op: opGetAttributeList, UID: uid})
	if err != nil {
		return nil, err
	}
	return r.Names, nil
}

func (c *Client) attrOp(ctx context.Context, id hsm.Identity, op uint8, uid string, a object.Attribute) (object.Attribute, error) {
	w, err := toWire([]object.Attribute{a})
	if err != nil {
		return object.Attribute{}, err
	}
	r, err := c.call(ctx, id, &request{Op: op, UID: uid, Attrs: w})
	if err != nil {
		return object.Attribute{}, err
	}
	return oneAttr(r)
}

// AddAttribute implements hsm.API.
func (c *Client) AddAttribute(ctx context.Context, id hsm.Identity, uid string, a object.Attribute) (object.Attribute, error) {
	return c.attrOp(ctx, id, opAddAttribute, uid, a)
}

// ModifyAttribute implements hsm.API.
func (c *Client) ModifyAttribute(ctx context.Context, id hsm.Identity, uid string, a object.Attribute) (object.Attribute, error) {
	return c.attrOp(ctx, id, opModifyAttribute, uid, a)
}

// DeleteAttribute implements hsm.API.
func (c *Client) DeleteAttribute(ctx context.Context, id hsm.Identity, uid, name string, index int) (object.Attribute, error) {
	r, err := c.call(ctx, id, &request{Op: opDeleteAttribute, UID: uid, Name: name, Index: index})
	if err != nil {
		return object.Attribute{}, err
	}
	return oneAttr(r)
}

// Activate implements hsm.API.
func (c *Client) Activate(ctx context.Context, id hsm.Identity, uid string) error {
	_, err := c.call(ctx, id, &request{Op: opActivate, UID: uid})
	return err
}

// Revoke implements hsm.API.
func (c *Client) Revoke(ctx context.Context, id hsm.Identity, uid string, reason object.RevocationReason, occurred time.Time) error {
	q := &request{Op: opRevoke, UID: uid, Reason: uint32(reason.Code), Message: reason.Message}
	if !occurred.IsZero() {
		q.Time = occurred.Unix()
	}
	_, err := c.call(ctx, id, q)
	return err
}

// Destroy implements hsm.API.
func (c *Client) Destroy(ctx context.Context, id hsm.Identity, uid string) error {
	_, err := c.call(ctx, id, &request{Op: opDestroy, UID: uid})
	return err
}

// Locate implements hsm.API.
func (c *Client) Locate(ctx context.Context, id hsm.Identity, q hsm.Query) ([]string, error) {
	w, err := toWire(q.Attrs)
	if err != nil {
		return nil, err
	}
	r, err := c.call(ctx, id, &request{Op: opLocate, Attrs: w, MaxItems: q.MaxItems, GroupMember: uint32(q.GroupMember)})
	if err != nil {
		return nil, err
	}
	return r.Names, nil
}

// ReKey implements hsm.API.
func (c *Client) ReKey(ctx context.Context, id hsm.Identity, uid string, offset time.Duration, attrs []object.Attribute) (string, error) {
	w, err := toWire(attrs)
	if err != nil {
		return "", err
	}
	r, err := c.call(ctx, id, &request{Op: opReKey, UID: uid, Offset: seconds(offset), Attrs: w})
	if err != nil {
		return "", err
	}
	return r.UID, nil
}

// ReKeyKeyPair implements hsm.API.
func (c *Client) ReKeyKeyPair(ctx context.Context, id hsm.Identity, privUID string, offset time.Duration, common, priv, pub []object.Attribute) (string, string, error) {
	q := &request{Op: opReKeyKeyPair, UID: privUID, Offset: seconds(offset)}
	var err error
	if q.Attrs, err = toWire(common); err != nil {
		return "", "", err
	}
	if q.Priv, err = toWire(priv); err != nil {
		return "", "", err
	}
	if q.Pub, err = toWire(pub); err != nil {
		return "", "", err
	}
	r, err := c.call(ctx, id, q)
	if err != nil {
		return "", "", err
	}
	return r.UID, r.UID2, nil
}

// GetUsageAllocation implements hsm.API.
func (c *Client) GetUsageAllocation(ctx context.Context, id hsm.Identity, uid string, count int64) error {
	_, err := c.call(ctx, id, &request{Op: opGetUsageAllocation, UID: uid, Count: count})
	return err
}

// Check implements hsm.API.
func (c *Client) Check(ctx context.Context, id hsm.Identity, uid string, usage int32) error {
	_, err := c.call(ctx, id, &request{Op: opCheck, UID: uid, Usage: usage})
	return err
}
