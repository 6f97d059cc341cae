package client_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/internal/hostmode"
	"github.com/cofferhsm/coffer/kmip"
	"github.com/cofferhsm/coffer/kmip/client"
	"github.com/cofferhsm/coffer/kmip/server"
	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// startServer runs the real host-mode server on 127.0.0.1:0 and returns
// its address and a client TLS config for a new app.
func startServer(t *testing.T) (string, *tls.Config) {
	t.Helper()
	h, err := hostmode.Open(hostmode.Config{Dir: t.TempDir(), Sealer: hostmode.SealerInsecure, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(h.ServerConfig(""))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
		h.Close()
	})
	certPEM, keyPEM, err := h.Authority.CreateApp("tester")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(h.Authority.CACertPEM())
	return l.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{pair}}
}

func dial(t *testing.T) *client.Client {
	t.Helper()
	addr, cfg := startServer(t)
	c, err := client.Dial(context.Background(), addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func attrValue(t *testing.T, attrs []kmip.Attribute, name string) kmip.AttributeValue {
	t.Helper()
	for _, a := range attrs {
		if a.Name == name {
			return a.Value
		}
	}
	t.Fatalf("attribute %q missing from %v", name, attrs)
	return nil
}

// TestOperations runs every typed method against the real server.
func TestOperations(t *testing.T) {
	c := dial(t)
	ctx := context.Background()

	vs, err := c.DiscoverVersions(ctx)
	if err != nil || !slices.Contains(vs, kmip.ProtocolVersion{Major: 1, Minor: 1}) {
		t.Fatalf("DiscoverVersions = %v, %v", vs, err)
	}
	if vs, err := c.DiscoverVersions(ctx, kmip.ProtocolVersion{Major: 1, Minor: 1}); err != nil || len(vs) != 1 || vs[0] != (kmip.ProtocolVersion{Major: 1, Minor: 1}) {
		t.Fatalf("DiscoverVersions(1.1) = %v, %v", vs, err)
	}
	q, err := c.Query(ctx, kmip.QueryFunctionQueryOperations, kmip.QueryFunctionQueryObjects, kmip.QueryFunctionQueryServerInformation)
	if err != nil || !slices.Contains(q.Operations, kmip.OperationGet) || !slices.Contains(q.ObjectTypes, kmip.ObjectTypeSymmetricKey) || q.VendorIdentification == nil {
		t.Fatalf("Query = %+v, %v", q, err)
	}

	uid, err := c.Create(ctx, kmip.CryptographicAlgorithmAES, 256, kmip.CryptographicUsageMaskEncrypt|kmip.CryptographicUsageMaskDecrypt, client.NameAttr("disk-key"))
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := c.GetAttributes(ctx, uid, kmip.AttributeCryptographicAlgorithm, kmip.AttributeCryptographicLength, kmip.AttributeState)
	if err != nil {
		t.Fatal(err)
	}
	if attrValue(t, attrs, kmip.AttributeCryptographicAlgorithm) != kmip.CryptographicAlgorithmAES ||
		attrValue(t, attrs, kmip.AttributeCryptographicLength) != kmip.Integer(256) ||
		attrValue(t, attrs, kmip.AttributeState) != kmip.StatePreActive {
		t.Errorf("GetAttributes = %v", attrs)
	}
	a, err := c.AddAttribute(ctx, uid, client.Attr(kmip.AttributeContactInformation, kmip.TextString("ops@example.com")))
	if err != nil || a.Name != kmip.AttributeContactInformation || a.Value != kmip.TextString("ops@example.com") {
		t.Errorf("AddAttribute = %+v, %v", a, err)
	}
	found, err := c.Locate(ctx, client.NameAttr("disk-key"))
	if err != nil || !slices.Equal(found, []string{uid}) {
		t.Errorf("Locate = %v, %v; want [%s]", found, err, uid)
	}
	if err := c.Activate(ctx, uid); err != nil {
		t.Fatal(err)
	}
	g, err := c.Get(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := client.SymmetricKey(g); err != nil || len(k) != 32 || g.UniqueIdentifier != uid {
		t.Errorf("Get: %d bytes, %v", len(k), err)
	}

	priv, pub, err := c.CreateKeyPair(ctx, kmip.CryptographicAlgorithmRSA, 2048, kmip.CryptographicUsageMaskSign, kmip.CryptographicUsageMaskVerify)
	if err != nil || priv == "" || pub == "" || priv == pub {
		t.Fatalf("CreateKeyPair = %q, %q, %v", priv, pub, err)
	}
	if g, err := c.Get(ctx, priv); err != nil || g.ObjectType != kmip.ObjectTypePrivateKey {
		t.Errorf("Get private key: %+v, %v", g, err)
	}
	if g, err := c.Get(ctx, pub); err != nil || g.ObjectType != kmip.ObjectTypePublicKey {
		t.Errorf("Get public key: %+v, %v", g, err)
	}

	material := bytes.Repeat([]byte{0x5a}, 16)
	alg, bits := kmip.CryptographicAlgorithmAES, int32(128)
	reg, err := c.Register(ctx, &kmip.SymmetricKey{KeyBlock: kmip.KeyBlock{
		KeyFormatType:          kmip.KeyFormatTypeRaw,
		KeyValue:               &kmip.KeyValue{KeyMaterial: kmip.RawKeyMaterial(material)},
		CryptographicAlgorithm: &alg,
		CryptographicLength:    &bits,
	}}, client.Attr(kmip.AttributeCryptographicUsageMask, kmip.CryptographicUsageMaskEncrypt))
	if err != nil {
		t.Fatal(err)
	}
	if g, err := c.Get(ctx, reg); err != nil {
		t.Fatal(err)
	} else if k, err := client.SymmetricKey(g); err != nil || !bytes.Equal(k, material) {
		t.Errorf("registered key reads back %x, %v", k, err)
	}

	// Destroying an active key fails with Wrong Key Lifecycle State.
	err = c.Destroy(ctx, uid)
	var oe *client.OperationError
	if !errors.As(err, &oe) || oe.Reason != kmip.ResultReasonPermissionDenied || oe.Operation != kmip.OperationDestroy || !errors.Is(err, client.ErrOperationFailed) {
		t.Fatalf("Destroy of an active key = %v", err)
	}
	if err := c.Revoke(ctx, uid, kmip.RevocationReasonCodeKeyCompromise, "test"); err != nil {
		t.Fatal(err)
	}
	attrs, err = c.GetAttributes(ctx, uid, kmip.AttributeState)
	if err != nil || attrValue(t, attrs, kmip.AttributeState) != kmip.StateCompromised {
		t.Errorf("State after Revoke(Key Compromise) = %v, %v", attrs, err)
	}
	if err := c.Destroy(ctx, uid); err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(ctx, uid)
	if !errors.As(err, &oe) || oe.Reason != kmip.ResultReasonItemNotFound || oe.Status != kmip.ResultStatusOperationFailed {
		t.Errorf("Get after Destroy = %v", err)
	}
	// The connection is still usable after failed operations.
	if _, err := c.DiscoverVersions(ctx); err != nil {
		t.Errorf("after failures: %v", err)
	}
}

// TestBatch checks batch results in order, Stop and Continue.
func TestBatch(t *testing.T) {
	c := dial(t)
	ctx := context.Background()
	items := []kmip.RequestPayload{
		&kmip.DiscoverVersionsRequest{},
		&kmip.GetRequest{UniqueIdentifier: "no-such-object"},
		&kmip.QueryRequest{QueryFunctions: []kmip.QueryFunction{kmip.QueryFunctionQueryObjects}},
	}
	tests := []struct {
		name string
		opts client.BatchOptions
		want []error // nil: success
	}{
		{"stop", client.BatchOptions{}, []error{nil, client.ErrOperationFailed, client.ErrNotRun}},
		{"continue", client.BatchOptions{ContinueOnError: true}, []error{nil, client.ErrOperationFailed, nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := c.Batch(ctx, tc.opts, items...)
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != len(items) {
				t.Fatalf("%d results", len(rs))
			}
			for i, r := range rs {
				if r.Operation != items[i].Operation() {
					t.Errorf("item %d: operation %s", i, r.Operation)
				}
				switch {
				case tc.want[i] == nil && (r.Err != nil || r.Payload == nil):
					t.Errorf("item %d: %v, payload %T", i, r.Err, r.Payload)
				case tc.want[i] != nil && !errors.Is(r.Err, tc.want[i]):
					t.Errorf("item %d: err %v, want %v", i, r.Err, tc.want[i])
				}
			}
		})
	}
	if _, err := c.Batch(ctx, client.BatchOptions{}); err == nil {
		t.Error("empty batch accepted")
	}
}

// fakeServer answers each request on conn with respond(request).
func fakeServer(t *testing.T, respond func(req *kmip.RequestMessage) []byte) *client.Client {
	t.Helper()
	cc, sc := net.Pipe()
	go func() {
		defer sc.Close()
		for {
			b, err := ttlv.ReadMessage(sc)
			if err != nil {
				return
			}
			req, err := kmip.ParseRequestMessage(b)
			if err != nil {
				return
			}
			out := respond(req)
			if out == nil {
				io.Copy(io.Discard, sc) // never answer
				return
			}
			if _, err := sc.Write(out); err != nil {
				return
			}
		}
	}()
	c := client.New(cc)
	t.Cleanup(func() { c.Close() })
	return c
}

// echoResponse answers every item with Success and an empty Discover
// Versions payload, after edit adjusts the response.
func echoResponse(t *testing.T, edit func(req *kmip.RequestMessage, m *kmip.ResponseMessage)) func(*kmip.RequestMessage) []byte {
	return func(req *kmip.RequestMessage) []byte {
		m := &kmip.ResponseMessage{Header: kmip.ResponseHeader{ProtocolVersion: req.Header.ProtocolVersion, TimeStamp: time.Unix(1700000000, 0).UTC(), BatchCount: int32(len(req.BatchItems))}}
		for _, bi := range req.BatchItems {
			m.BatchItems = append(m.BatchItems, kmip.ResponseBatchItem{Operation: bi.Operation, UniqueBatchItemID: bi.UniqueBatchItemID, ResultStatus: kmip.ResultStatusSuccess, Payload: &kmip.DiscoverVersionsResponse{}})
		}
		edit(req, m)
		b, err := m.Encode()
		if err != nil {
			t.Error(err)
		}
		return b
	}
}

// TestProtocolErrors: responses that do not match the request fail with
// ErrProtocol and close the client.
func TestProtocolErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(req *kmip.RequestMessage, m *kmip.ResponseMessage)
	}{
		{"batch ID not echoed", func(_ *kmip.RequestMessage, m *kmip.ResponseMessage) {
			m.BatchItems[0].UniqueBatchItemID = []byte("other")
		}},
		{"batch ID dropped", func(_ *kmip.RequestMessage, m *kmip.ResponseMessage) { m.BatchItems[0].UniqueBatchItemID = nil }},
		{"wrong operation", func(_ *kmip.RequestMessage, m *kmip.ResponseMessage) {
			m.BatchItems[0].Operation = kmip.OperationQuery
			m.BatchItems[0].Payload = &kmip.QueryResponse{}
		}},
		{"wrong major version", func(_ *kmip.RequestMessage, m *kmip.ResponseMessage) { m.Header.ProtocolVersion.Major = 2 }},
		{"batch count mismatch", func(_ *kmip.RequestMessage, m *kmip.ResponseMessage) { m.Header.BatchCount = 2 }},
		{"too many items", func(_ *kmip.RequestMessage, m *kmip.ResponseMessage) {
			m.BatchItems = append(m.BatchItems, m.BatchItems[0])
			m.Header.BatchCount = 2
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeServer(t, echoResponse(t, tc.edit))
			_, err := c.DiscoverVersions(context.Background())
			if !errors.Is(err, client.ErrProtocol) {
				t.Fatalf("err = %v, want ErrProtocol", err)
			}
			if _, err := c.DiscoverVersions(context.Background()); !errors.Is(err, client.ErrClosed) {
				t.Errorf("after a protocol error: %v, want ErrClosed", err)
			}
		})
	}
	t.Run("garbage", func(t *testing.T) {
		c := fakeServer(t, func(*kmip.RequestMessage) []byte {
			return []byte{0x42, 0x00, 0x7b, 0x01, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0}
		})
		if _, err := c.DiscoverVersions(context.Background()); err == nil {
			t.Fatal("garbage response accepted")
		}
	})
}

// TestBatchItemIDs: every item carries a distinct Unique Batch Item ID and
// the header protocol version is 1.1.
func TestBatchItemIDs(t *testing.T) {
	var seen [][]byte
	c := fakeServer(t, echoResponse(t, func(req *kmip.RequestMessage, _ *kmip.ResponseMessage) {
		if req.Header.ProtocolVersion != (kmip.ProtocolVersion{Major: 1, Minor: 1}) {
			t.Errorf("request version %s", req.Header.ProtocolVersion)
		}
		for _, bi := range req.BatchItems {
			seen = append(seen, bi.UniqueBatchItemID)
		}
	}))
	for range 2 {
		rs, err := c.Batch(context.Background(), client.BatchOptions{}, &kmip.DiscoverVersionsRequest{}, &kmip.DiscoverVersionsRequest{})
		if err != nil || rs[0].Err != nil || rs[1].Err != nil {
			t.Fatalf("Batch = %v, %v", rs, err)
		}
	}
	if len(seen) != 4 {
		t.Fatalf("%d items seen", len(seen))
	}
	for i := range seen {
		for j := range i {
			if len(seen[i]) == 0 || bytes.Equal(seen[i], seen[j]) {
				t.Errorf("batch item IDs %d and %d: %x, %x", i, j, seen[i], seen[j])
			}
		}
	}
}

// TestContextCancel: a server that never answers is abandoned when the
// context ends, and the client is closed.
func TestContextCancel(t *testing.T) {
	c := fakeServer(t, func(*kmip.RequestMessage) []byte { return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.DiscoverVersions(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if _, err := c.DiscoverVersions(context.Background()); !errors.Is(err, client.ErrClosed) {
		t.Errorf("after cancel: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after close: %v", err)
	}
}

func TestOperationError(t *testing.T) {
	e := &client.OperationError{Operation: kmip.OperationGet, Status: kmip.ResultStatusOperationFailed, Reason: kmip.ResultReasonItemNotFound, Message: "no such object"}
	if got, want := e.Error(), "client: Get: OperationFailed: ItemNotFound: no such object"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, client.ErrOperationFailed) || errors.Is(e, client.ErrProtocol) {
		t.Error("errors.Is")
	}
}

func TestDialFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if _, err := client.Dial(context.Background(), addr, &tls.Config{}); err == nil {
		t.Error("Dial to a closed port succeeded")
	}
}
