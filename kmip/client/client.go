// Package client is a small KMIP 1.1 client over mutual TLS, built on the
// typed message model of package kmip. It serves the coffer CLI, the
// end-to-end tests and the benchmarks.
//
// A Client holds one TLS connection and sends one request message at a
// time (calls from several goroutines are serialised). Every request
// carries Protocol Version 1.1 unless Client.Version is changed, and every
// batch item a Unique Batch Item ID; responses must echo the version's
// major number, the batch count and each ID, else the call fails with
// ErrProtocol and the connection is closed.
//
// Errors: a batch item the server failed comes back as *OperationError
// (Result Status, Reason and Message; test with errors.As, or errors.Is
// against ErrOperationFailed); a transport failure is the network error
// and closes the Client; a response that does not match its request wraps
// ErrProtocol.
package client

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/cofferhsm/coffer/kmip"
	"github.com/cofferhsm/coffer/kmip/ttlv"
)

var (
	// ErrProtocol: the server's response does not match the request (bad
	// encoding, wrong batch count or batch item IDs, wrong payload type).
	ErrProtocol = errors.New("client: protocol error")
	// ErrOperationFailed is matched by every *OperationError.
	ErrOperationFailed = errors.New("client: operation failed")
	// ErrClosed: the Client was closed, or an earlier transport error
	// closed it.
	ErrClosed = errors.New("client: closed")
)

// OperationError is a batch item the server answered with a Result Status
// other than Success.
type OperationError struct {
	Operation kmip.Operation
	Status    kmip.ResultStatus
	Reason    kmip.ResultReason // zero when the server sent none
	Message   string            // Result Message; empty when absent
}

func (e *OperationError) Error() string {
	s := fmt.Sprintf("client: %s: %s", e.Operation, e.Status)
	if e.Reason != 0 {
		s += ": " + e.Reason.String()
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is reports whether target is ErrOperationFailed.
func (e *OperationError) Is(target error) bool { return target == ErrOperationFailed }

// DefaultTimeout bounds one exchange when the context has no deadline.
const DefaultTimeout = 30 * time.Second

// Client is a KMIP client on one TLS connection. Its methods are safe for
// concurrent use; exchanges are serialised.
type Client struct {
	// Version is sent in every request header. Dial sets 1.1.
	Version kmip.ProtocolVersion
	// Limits bounds responses; the zero value means ttlv's defaults.
	Limits ttlv.Limits

	mu     sync.Mutex
	conn   net.Conn // nil once closed
	nextID uint32
}

// Dial connects to addr over TLS with cfg (which carries the client
// certificate and the server's roots) and completes the handshake.
func Dial(ctx context.Context, addr string, cfg *tls.Config) (*Client, error) {
	d := tls.Dialer{Config: cfg}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", addr, err)
	}
	return New(c), nil
}

// New returns a Client on an established connection (for example a TLS
// connection dialled by the caller). The Client owns conn and closes it.
func New(conn net.Conn) *Client {
	return &Client{Version: kmip.ProtocolVersion{Major: 1, Minor: 1}, conn: conn}
}

// Close closes the connection. Later calls return nil.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}

// Do sends m as is and returns the decoded response. It checks only that
// the response decodes and that its batch count matches; item results are
// left to the caller.
func (c *Client) Do(ctx context.Context, m *kmip.RequestMessage) (*kmip.ResponseMessage, error) {
	b, err := m.Encode()
	if err != nil {
		return nil, fmt.Errorf("client: encoding the request: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exchange(ctx, b)
}

// exchange writes one request and reads one response; c.mu is held.
func (c *Client) exchange(ctx context.Context, req []byte) (*kmip.ResponseMessage, error) {
	if c.conn == nil {
		return nil, ErrClosed
	}
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(DefaultTimeout)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c.conn.SetDeadline(dl)
	resp, err := c.roundTrip(req)
	if err != nil {
		c.conn.Close()
		c.conn = nil
		// The connection deadline is the context's: report its expiry as
		// the context's error even before the context's timer has fired.
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			return nil, fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		return nil, err
	}
	m, err := kmip.ParseResponseMessage(resp)
	if err != nil {
		return nil, c.protocolError("undecodable response: %v", err)
	}
	if int(m.Header.BatchCount) != len(m.BatchItems) {
		return nil, c.protocolError("batch count %d with %d items", m.Header.BatchCount, len(m.BatchItems))
	}
	return m, nil
}

// protocolError closes the connection (its state is unknown) and returns
// an error wrapping ErrProtocol; c.mu is held.
func (c *Client) protocolError(format string, args ...any) error {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

func (c *Client) roundTrip(req []byte) ([]byte, error) {
	if _, err := c.conn.Write(req); err != nil {
		return nil, fmt.Errorf("client: write: %w", err)
	}
	resp, err := c.Limits.ReadMessage(c.conn)
	if err != nil {
		return nil, fmt.Errorf("client: read: %w", err)
	}
	return resp, nil
}

// Batch sends the payloads as one request message, each a batch item with
// a fresh Unique Batch Item ID, and returns one Result per item in request
// order. The error is non-nil only when no usable response was obtained;
// failed items are reported in their Result.
func (c *Client) Batch(ctx context.Context, opts BatchOptions, payloads ...kmip.RequestPayload) ([]Result, error) {
	if len(payloads) == 0 {
		return nil, errors.New("client: empty batch")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m := &kmip.RequestMessage{Header: kmip.RequestHeader{
		ProtocolVersion: c.Version,
		BatchCount:      int32(len(payloads)),
		Authentication:  opts.Authentication,
	}}
	if opts.ContinueOnError {
		v := kmip.BatchErrorContinuationOptionContinue
		m.Header.BatchErrorContinuationOption = &v
	}
	ids := make([][]byte, len(payloads))
	for i, p := range payloads {
		c.nextID++
		ids[i] = binary.BigEndian.AppendUint32(nil, c.nextID)
		m.BatchItems = append(m.BatchItems, kmip.RequestBatchItem{Operation: p.Operation(), UniqueBatchItemID: ids[i], Payload: p})
	}
	b, err := m.Encode()
	if err != nil {
		return nil, fmt.Errorf("client: encoding the request: %w", err)
	}
	resp, err := c.exchange(ctx, b)
	if err != nil {
		return nil, err
	}
	if resp.Header.ProtocolVersion.Major != c.Version.Major {
		return nil, c.protocolError("response protocol version %s", resp.Header.ProtocolVersion)
	}
	// With Stop, the server may answer fewer items than sent.
	if len(resp.BatchItems) > len(payloads) || len(resp.BatchItems) == 0 {
		return nil, c.protocolError("%d items answered for %d sent", len(resp.BatchItems), len(payloads))
	}
	out := make([]Result, len(payloads))
	for i := range out {
		out[i].Operation = payloads[i].Operation()
		if i >= len(resp.BatchItems) {
			out[i].Err = ErrNotRun
			continue
		}
		bi := &resp.BatchItems[i]
		if string(bi.UniqueBatchItemID) != string(ids[i]) {
			return nil, c.protocolError("item %d: batch item ID %x, sent %x", i, bi.UniqueBatchItemID, ids[i])
		}
		if bi.ResultStatus != kmip.ResultStatusSuccess {
			oe := &OperationError{Operation: bi.Operation, Status: bi.ResultStatus}
			if oe.Operation == 0 {
				oe.Operation = payloads[i].Operation()
			}
			if bi.ResultReason != nil {
				oe.Reason = *bi.ResultReason
			}
			if bi.ResultMessage != nil {
				oe.Message = *bi.ResultMessage
			}
			out[i].Err = oe
			continue
		}
		if bi.Operation != payloads[i].Operation() {
			return nil, c.protocolError("item %d: operation %s, sent %s", i, bi.Operation, payloads[i].Operation())
		}
		out[i].Payload = bi.Payload
	}
	return out, nil
}

// ErrNotRun is the Result error of a batch item after a failed one that the
// server did not run (Batch Error Continuation Option Stop).
var ErrNotRun = errors.New("client: batch item not run after an earlier failure")

// BatchOptions adjusts a Batch request. The zero value sends the default
// header (Stop on the first error, no credential).
type BatchOptions struct {
	// ContinueOnError sets Batch Error Continuation Option Continue.
	ContinueOnError bool
	// Authentication is sent in the request header when not nil.
	Authentication *kmip.Authentication
}

// Result is the outcome of one batch item: Payload on success (it may be
// nil for operations without a response payload), else Err.
type Result struct {
	Operation kmip.Operation
	Payload   kmip.ResponsePayload
	Err       error
}

// call runs one operation and returns its response payload as R.
func call[R kmip.ResponsePayload](ctx context.Context, c *Client, p kmip.RequestPayload) (R, error) {
	var zero R
	rs, err := c.Batch(ctx, BatchOptions{}, p)
	if err != nil {
		return zero, err
	}
	if rs[0].Err != nil {
		return zero, rs[0].Err
	}
	r, ok := rs[0].Payload.(R)
	if !ok {
		return zero, fmt.Errorf("%w: %s: response payload %T", ErrProtocol, p.Operation(), rs[0].Payload)
	}
	return r, nil
}

// DiscoverVersions sends Discover Versions with the given versions (none:
// ask for every version the server supports) and returns the server's list.
func (c *Client) DiscoverVersions(ctx context.Context, versions ...kmip.ProtocolVersion) ([]kmip.ProtocolVersion, error) {
	r, err := call[*kmip.DiscoverVersionsResponse](ctx, c, &kmip.DiscoverVersionsRequest{ProtocolVersions: versions})
	if err != nil {
		return nil, err
	}
	return r.ProtocolVersions, nil
}

// Query sends Query with the given functions.
func (c *Client) Query(ctx context.Context, functions ...kmip.QueryFunction) (*kmip.QueryResponse, error) {
	return call[*kmip.QueryResponse](ctx, c, &kmip.QueryRequest{QueryFunctions: functions})
}

// Attr returns an attribute of the given name and value.
func Attr(name string, v kmip.AttributeValue) kmip.Attribute {
	return kmip.Attribute{Name: name, Value: v}
}

// NameAttr returns a Name attribute (Uninterpreted Text String).
func NameAttr(name string) kmip.Attribute {
	return Attr(kmip.AttributeName, &kmip.Name{Value: name, Type: kmip.NameTypeUninterpretedTextString})
}

// keyAttrs returns the algorithm, length and usage mask attributes.
func keyAttrs(alg kmip.CryptographicAlgorithm, bits int32, usage kmip.CryptographicUsageMask) []kmip.Attribute {
	return []kmip.Attribute{
		Attr(kmip.AttributeCryptographicAlgorithm, alg),
		Attr(kmip.AttributeCryptographicLength, kmip.Integer(bits)),
		Attr(kmip.AttributeCryptographicUsageMask, usage),
	}
}

// Create creates a symmetric key of the given algorithm, length in bits
// and usage, with the extra attributes, and returns its Unique Identifier.
func (c *Client) Create(ctx context.Context, alg kmip.CryptographicAlgorithm, bits int32, usage kmip.CryptographicUsageMask, extra ...kmip.Attribute) (string, error) {
	r, err := call[*kmip.CreateResponse](ctx, c, &kmip.CreateRequest{
		ObjectType:        kmip.ObjectTypeSymmetricKey,
		TemplateAttribute: kmip.TemplateAttribute{Attributes: append(keyAttrs(alg, bits, usage), extra...)},
	})
	if err != nil {
		return "", err
	}
	return r.UniqueIdentifier, nil
}

// CreateKeyPair creates an asymmetric key pair (e.g. RSA 2048) with the
// given private and public key usages; extra attributes go in the common
// template. It returns the private and public key identifiers.
func (c *Client) CreateKeyPair(ctx context.Context, alg kmip.CryptographicAlgorithm, bits int32, privUsage, pubUsage kmip.CryptographicUsageMask, extra ...kmip.Attribute) (priv, pub string, err error) {
	r, err := call[*kmip.CreateKeyPairResponse](ctx, c, &kmip.CreateKeyPairRequest{
		CommonTemplateAttribute: &kmip.TemplateAttribute{Attributes: append([]kmip.Attribute{
			Attr(kmip.AttributeCryptographicAlgorithm, alg),
			Attr(kmip.AttributeCryptographicLength, kmip.Integer(bits)),
		}, extra...)},
		PrivateKeyTemplateAttribute: &kmip.TemplateAttribute{Attributes: []kmip.Attribute{Attr(kmip.AttributeCryptographicUsageMask, privUsage)}},
		PublicKeyTemplateAttribute:  &kmip.TemplateAttribute{Attributes: []kmip.Attribute{Attr(kmip.AttributeCryptographicUsageMask, pubUsage)}},
	})
	if err != nil {
		return "", "", err
	}
	return r.PrivateKeyUniqueIdentifier, r.PublicKeyUniqueIdentifier, nil
}

// Register registers obj with the given attributes and returns its Unique
// Identifier.
func (c *Client) Register(ctx context.Context, obj kmip.Object, attrs ...kmip.Attribute) (string, error) {
	r, err := call[*kmip.RegisterResponse](ctx, c, &kmip.RegisterRequest{
		ObjectType:        obj.ObjectType(),
		TemplateAttribute: kmip.TemplateAttribute{Attributes: attrs},
		Object:            obj,
	})
	if err != nil {
		return "", err
	}
	return r.UniqueIdentifier, nil
}

// Get returns the object uid in the server's default format.
func (c *Client) Get(ctx context.Context, uid string) (*kmip.GetResponse, error) {
	return call[*kmip.GetResponse](ctx, c, &kmip.GetRequest{UniqueIdentifier: uid})
}

// SymmetricKey returns the raw bytes of a symmetric key from a Get
// response (Raw or Transparent Symmetric Key format, not wrapped).
func SymmetricKey(r *kmip.GetResponse) ([]byte, error) {
	sk, ok := r.Object.(*kmip.SymmetricKey)
	if !ok || sk.KeyBlock.KeyValue == nil {
		return nil, fmt.Errorf("%w: object %T is not a plaintext symmetric key", ErrProtocol, r.Object)
	}
	switch m := sk.KeyBlock.KeyValue.KeyMaterial.(type) {
	case kmip.RawKeyMaterial:
		return []byte(m), nil
	case *kmip.TransparentSymmetricKey:
		return m.Key, nil
	}
	return nil, fmt.Errorf("%w: key material %T", ErrProtocol, sk.KeyBlock.KeyValue.KeyMaterial)
}

// GetAttributes returns the named attributes of uid (all of them when no
// name is given).
func (c *Client) GetAttributes(ctx context.Context, uid string, names ...string) ([]kmip.Attribute, error) {
	r, err := call[*kmip.GetAttributesResponse](ctx, c, &kmip.GetAttributesRequest{UniqueIdentifier: uid, AttributeNames: names})
	if err != nil {
		return nil, err
	}
	return r.Attributes, nil
}

// AddAttribute adds a to uid and returns the attribute as stored (with its
// index).
func (c *Client) AddAttribute(ctx context.Context, uid string, a kmip.Attribute) (kmip.Attribute, error) {
	r, err := call[*kmip.AddAttributeResponse](ctx, c, &kmip.AddAttributeRequest{UniqueIdentifier: uid, Attribute: a})
	if err != nil {
		return kmip.Attribute{}, err
	}
	return r.Attribute, nil
}

// Activate activates uid.
func (c *Client) Activate(ctx context.Context, uid string) error {
	_, err := call[*kmip.ActivateResponse](ctx, c, &kmip.ActivateRequest{UniqueIdentifier: uid})
	return err
}

// Revoke revokes uid with the reason code and optional message.
func (c *Client) Revoke(ctx context.Context, uid string, code kmip.RevocationReasonCode, message string) error {
	p := &kmip.RevokeRequest{UniqueIdentifier: uid, RevocationReason: kmip.RevocationReason{Code: code}}
	if message != "" {
		p.RevocationReason.Message = &message
	}
	if code == kmip.RevocationReasonCodeKeyCompromise || code == kmip.RevocationReasonCodeCACompromise {
		now := time.Now().UTC().Truncate(time.Second)
		p.CompromiseOccurrenceDate = &now
	}
	_, err := call[*kmip.RevokeResponse](ctx, c, p)
	return err
}

// Destroy destroys uid.
func (c *Client) Destroy(ctx context.Context, uid string) error {
	_, err := call[*kmip.DestroyResponse](ctx, c, &kmip.DestroyRequest{UniqueIdentifier: uid})
	return err
}

// Locate returns the identifiers of the objects matching every attribute.
func (c *Client) Locate(ctx context.Context, attrs ...kmip.Attribute) ([]string, error) {
	r, err := call[*kmip.LocateResponse](ctx, c, &kmip.LocateRequest{Attributes: attrs})
	if err != nil {
		return nil, err
	}
	return r.UniqueIdentifiers, nil
}

// String describes the client for logs.
func (c *Client) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return "kmip client (closed)"
	}
	return "kmip client to " + c.conn.RemoteAddr().String()
}
