package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/kmip"
	"github.com/cofferhsm/coffer/kmip/client"
	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// vcConn speaks like vCenter 7.0.3 (../shared/kmip/VCENTER.md): every
// header is Protocol Version 1.1 and Batch Count only; the first request
// of a connection is an empty Discover Versions without a batch item ID;
// later items carry "QLKC" + a little-endian counter, which must be echoed.
type vcConn struct {
	c *client.Client
	n uint32
}

func dialVC(ctx context.Context, addr string, cfg *tls.Config) (*vcConn, error) {
	c, err := client.Dial(ctx, addr, cfg)
	if err != nil {
		return nil, err
	}
	v := &vcConn{c: c}
	// The opening Discover Versions: empty payload, no batch item ID.
	resp, err := v.send(ctx, false, &kmip.DiscoverVersionsRequest{})
	if err != nil {
		c.Close()
		return nil, err
	}
	dv, ok := resp[0].Payload.(*kmip.DiscoverVersionsResponse)
	if !ok || len(dv.ProtocolVersions) == 0 || !containsVersion(dv.ProtocolVersions, 1, 1) {
		c.Close()
		return nil, fmt.Errorf("empty Discover Versions: got %+v", resp[0].Payload)
	}
	return v, nil
}

func containsVersion(vs []kmip.ProtocolVersion, major, minor int32) bool {
	for _, v := range vs {
		if v.Major == major && v.Minor == minor {
			return true
		}
	}
	return false
}

// send sends one message with the payloads as batch items and checks the
// response: version 1.1, the same count, IDs echoed, every item Success.
func (v *vcConn) send(ctx context.Context, withIDs bool, payloads ...kmip.RequestPayload) ([]kmip.ResponseBatchItem, error) {
	m := &kmip.RequestMessage{Header: kmip.RequestHeader{
		ProtocolVersion: kmip.ProtocolVersion{Major: 1, Minor: 1},
		BatchCount:      int32(len(payloads)),
	}}
	for _, p := range payloads {
		bi := kmip.RequestBatchItem{Operation: p.Operation(), Payload: p}
		if withIDs {
			v.n++
			bi.UniqueBatchItemID = binary.LittleEndian.AppendUint32([]byte("QLKC"), v.n)
		}
		m.BatchItems = append(m.BatchItems, bi)
	}
	resp, err := v.c.Do(ctx, m)
	if err != nil {
		return nil, err
	}
	if resp.Header.ProtocolVersion != (kmip.ProtocolVersion{Major: 1, Minor: 1}) {
		return nil, fmt.Errorf("response protocol version %s, want 1.1", resp.Header.ProtocolVersion)
	}
	if len(resp.BatchItems) != len(payloads) {
		return nil, fmt.Errorf("%d response items for %d", len(resp.BatchItems), len(payloads))
	}
	for i, bi := range resp.BatchItems {
		if !bytes.Equal(bi.UniqueBatchItemID, m.BatchItems[i].UniqueBatchItemID) {
			return nil, fmt.Errorf("item %d: batch item ID %q, sent %q", i, bi.UniqueBatchItemID, m.BatchItems[i].UniqueBatchItemID)
		}
		if bi.ResultStatus != kmip.ResultStatusSuccess || bi.Operation != payloads[i].Operation() {
			return nil, fmt.Errorf("item %d (%s): %s %v %v", i, payloads[i].Operation(), bi.ResultStatus, deref(bi.ResultReason), derefS(bi.ResultMessage))
		}
	}
	return resp.BatchItems, nil
}

// attrText returns the text of a Text String attribute value, typed or,
// for custom attributes, raw.
func attrText(v kmip.AttributeValue) (string, bool) {
	switch v := v.(type) {
	case kmip.TextString:
		return string(v), true
	case kmip.RawValue:
		s, ok := v.Item.Value.(string)
		return s, ok && v.Item.Type == ttlv.TypeTextString
	}
	return "", false
}

func deref(r *kmip.ResultReason) kmip.ResultReason {
	if r == nil {
		return 0
	}
	return *r
}

func derefS(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// getAttr asks for one attribute and returns its value (nil when absent).
func (v *vcConn) getAttr(ctx context.Context, uid, name string) (kmip.AttributeValue, error) {
	r, err := v.send(ctx, true, &kmip.GetAttributesRequest{UniqueIdentifier: uid, AttributeNames: []string{name}})
	if err != nil {
		return nil, err
	}
	attrs := r[0].Payload.(*kmip.GetAttributesResponse).Attributes
	switch len(attrs) {
	case 0:
		return nil, nil
	case 1:
		if attrs[0].Name != name {
			return nil, fmt.Errorf("asked for %q, got %q", name, attrs[0].Name)
		}
		return attrs[0].Value, nil
	}
	return nil, fmt.Errorf("asked for %q, got %d attributes", name, len(attrs))
}

func (v *vcConn) addText(ctx context.Context, uid string, kv ...string) error {
	var ps []kmip.RequestPayload
	for i := 0; i+1 < len(kv); i += 2 {
		ps = append(ps, &kmip.AddAttributeRequest{UniqueIdentifier: uid, Attribute: kmip.Attribute{Name: kv[i], Value: kmip.TextString(kv[i+1])}})
	}
	r, err := v.send(ctx, true, ps...)
	if err != nil {
		return err
	}
	for i, bi := range r {
		a := bi.Payload.(*kmip.AddAttributeResponse).Attribute
		if got, ok := attrText(a.Value); a.Name != kv[2*i] || !ok || got != kv[2*i+1] {
			return fmt.Errorf("Add Attribute %d echoed %s=%v", i, a.Name, a.Value)
		}
	}
	return nil
}

// vcenterEncryptVM is what vCenter does for one key of a VM encryption,
// each step on a new TLS connection, returning the key's UID and bytes.
func vcenterEncryptVM(ctx context.Context, addr string, cfg *tls.Config, vm int) (string, []byte, error) {
	step := func(f func(v *vcConn) error) error {
		v, err := dialVC(ctx, addr, cfg)
		if err != nil {
			return err
		}
		defer v.c.Close()
		return f(v)
	}
	var uid string
	var material []byte
	err := step(func(v *vcConn) error {
		r, err := v.send(ctx, true, &kmip.CreateRequest{ObjectType: kmip.ObjectTypeSymmetricKey, TemplateAttribute: kmip.TemplateAttribute{Attributes: []kmip.Attribute{
			{Name: kmip.AttributeCryptographicAlgorithm, Value: kmip.CryptographicAlgorithmAES},
			{Name: kmip.AttributeCryptographicUsageMask, Value: kmip.CryptographicUsageMask(12)},
			{Name: kmip.AttributeCryptographicLength, Value: kmip.Integer(256)},
		}}})
		if err != nil {
			return fmt.Errorf("Create: %w", err)
		}
		uid = r[0].Payload.(*kmip.CreateResponse).UniqueIdentifier
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	err = step(func(v *vcConn) error {
		for _, n := range []string{"x-Product_Version", "x-Vendor", "x-Product"} {
			if val, err := v.getAttr(ctx, uid, n); err != nil || val != nil {
				return fmt.Errorf("Get Attributes %s on a new key: %v, %v", n, val, err)
			}
		}
		if err := v.addText(ctx, uid, "x-Product_Version", "7.0.3 build-19480866", "x-Vendor", "VMware, Inc.", "x-Product", "VMware vSphere"); err != nil {
			return err
		}
		// Get while Pre-Active, no Key Format Type: Raw, 32 bytes.
		r, err := v.send(ctx, true, &kmip.GetRequest{UniqueIdentifier: uid})
		if err != nil {
			return fmt.Errorf("Get: %w", err)
		}
		g := r[0].Payload.(*kmip.GetResponse)
		sk, ok := g.Object.(*kmip.SymmetricKey)
		if !ok || g.UniqueIdentifier != uid {
			return fmt.Errorf("Get: %T %q", g.Object, g.UniqueIdentifier)
		}
		kb := sk.KeyBlock
		raw, ok := kb.KeyValue.KeyMaterial.(kmip.RawKeyMaterial)
		if kb.KeyFormatType != kmip.KeyFormatTypeRaw || !ok || len(raw) != 32 ||
			kb.CryptographicAlgorithm == nil || *kb.CryptographicAlgorithm != kmip.CryptographicAlgorithmAES ||
			kb.CryptographicLength == nil || *kb.CryptographicLength != 256 {
			return fmt.Errorf("Get: key block format %s, material %T of %d bytes", kb.KeyFormatType, kb.KeyValue.KeyMaterial, len(raw))
		}
		material = raw
		state, err := v.getAttr(ctx, uid, kmip.AttributeState)
		if err != nil || state != kmip.StatePreActive {
			return fmt.Errorf("State of a new key: %v, %v", state, err)
		}
		if _, err := v.send(ctx, true, &kmip.ActivateRequest{UniqueIdentifier: uid}); err != nil {
			return fmt.Errorf("Activate: %w", err)
		}
		if state, err := v.getAttr(ctx, uid, kmip.AttributeState); err != nil || state != kmip.StateActive {
			return fmt.Errorf("State after Activate: %v, %v", state, err)
		}
		for _, n := range []string{"x-Identifier", "x-Component", "x-Name"} {
			if val, err := v.getAttr(ctx, uid, n); err != nil || val != nil {
				return fmt.Errorf("Get Attributes %s: %v, %v", n, val, err)
			}
		}
		return v.addText(ctx, uid, "x-Identifier", fmt.Sprintf("564d7a1e-0000-0000-0000-%012d", vm), "x-Component", "Virtual Machine", "x-Name", fmt.Sprintf("vm-%d", vm))
	})
	return uid, material, err
}

// handshakeOnly opens a TLS connection, completes the handshake and closes
// it, as vCenter's trust set-up and health checks do.
func handshakeOnly(addr string, cfg *tls.Config) error {
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return err
	}
	return c.Close()
}

func TestVCenterConversation(t *testing.T) {
	srv := startCoffer(t, newDataDir(t))
	cfg := appTLS(t, srv.Host.Authority, "vcenter")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Add KMS: handshake-only connections (with, and like older vCenters
	// without, a client certificate), then Discover Versions twice and
	// Query Server Information.
	noCert := cfg.Clone()
	noCert.Certificates = nil
	for _, c := range []*tls.Config{cfg, noCert, cfg} {
		if err := handshakeOnly(srv.Addr, c); err != nil {
			t.Fatalf("handshake-only connection: %v", err)
		}
	}
	v, err := dialVC(ctx, srv.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.send(ctx, false, &kmip.DiscoverVersionsRequest{}); err != nil {
		t.Fatalf("second Discover Versions: %v", err)
	}
	r, err := v.send(ctx, true, &kmip.QueryRequest{QueryFunctions: []kmip.QueryFunction{kmip.QueryFunctionQueryServerInformation}})
	if err != nil {
		t.Fatal(err)
	}
	if q := r[0].Payload.(*kmip.QueryResponse); q.VendorIdentification == nil || *q.VendorIdentification == "" {
		t.Errorf("Query Server Information: no Vendor Identification")
	}
	v.c.Close()

	// Encrypting VMs: two keys per VM, on parallel connections, while
	// health checks come and go.
	const vms = 4
	type key struct {
		uid      string
		material []byte
	}
	keys := make([]key, 2*vms)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			uid, m, err := vcenterEncryptVM(ctx, srv.Addr, cfg, i/2)
			if err != nil {
				t.Errorf("key %d: %v", i, err)
				return
			}
			keys[i] = key{uid, m}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 5 {
			if err := handshakeOnly(srv.Addr, cfg); err != nil {
				t.Errorf("health check: %v", err)
			}
		}
	}()
	wg.Wait()
	if t.Failed() {
		return
	}

	// Every key is distinct, Active, tagged, and reads back the same.
	c := dial(t, srv.Addr, cfg)
	seen := map[string]bool{}
	for i, k := range keys {
		if seen[k.uid] {
			t.Fatalf("UID %q returned twice", k.uid)
		}
		seen[k.uid] = true
		g, err := c.Get(ctx, k.uid)
		if err != nil {
			t.Fatal(err)
		}
		if m, err := client.SymmetricKey(g); err != nil || !bytes.Equal(m, k.material) {
			t.Errorf("key %d reads back different material (%v)", i, err)
		}
		attrs, err := c.GetAttributes(ctx, k.uid, kmip.AttributeState, "x-Component", "x-Name")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{kmip.AttributeState: kmip.StateActive.String(), "x-Component": "Virtual Machine", "x-Name": fmt.Sprintf("vm-%d", i/2)}
		for _, a := range attrs {
			got, _ := attrText(a.Value)
			if st, ok := a.Value.(kmip.State); ok {
				got = st.String()
			}
			if want[a.Name] != got {
				t.Errorf("key %d: %s = %v, want %v", i, a.Name, a.Value, want[a.Name])
			}
			delete(want, a.Name)
		}
		if len(want) != 0 {
			t.Errorf("key %d: attributes missing: %v", i, want)
		}
	}
}
