// Package hsmtest is the conformance suite of hsm.API: the same tests run
// against the in-process core and against the RPC client.
package hsmtest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/hsm/object"
	"github.com/cofferhsm/coffer/hsm/store"
)

var (
	alice = hsm.Identity{Name: "alice", Groups: []string{"vcenter"}}
	t0    = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

// Factory returns the API under test for cfg. It must serve a core made by
// hsm.New(cfg) and release everything with t.Cleanup.
type Factory func(t testing.TB, cfg hsm.Config) hsm.API

// Run runs the conformance suite against the API made by nf.
func Run(t *testing.T, nf Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, Factory)
	}{
		{"VCenterFlow", testVCenterFlow},
		{"CreateValidation", testCreateValidation},
		{"CreateAlgorithms", testCreateAlgorithms},
		{"ActivationDateAtCreation", testActivationDateAtCreation},
		{"ModifyActivationDate", testModifyActivationDate},
		{"Destroy", testDestroy},
		{"AttributeOperations", testAttributeOperations},
		{"AttributeIndices", testAttributeIndices},
		{"LastChangeDate", testLastChangeDate},
		{"CorruptRecordDetected", testCorruptRecordDetected},
		{"AuditFailureWithholdsMaterial", testAuditFailureWithholdsMaterial},
		{"Check", testCheck},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"CreateKeyPair", testCreateKeyPair},
		{"Register", testRegister},
		{"ReKey", testReKey},
		{"ReKeyKeyPair", testReKeyKeyPair},
		{"Locate", testLocate},
		{"LocateInvalid", testLocateInvalid},
		{"LocateDefaultRoundRobin", testLocateDefaultRoundRobin},
		{"AccessControl", testAccessControl},
		{"ExportFormat", testExportFormat},
		{"UsageAllocation", testUsageAllocation},
		{"CertificateAttributes", testCertificateAttributes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, nf) })
	}
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// countingReader is a deterministic, non-secret byte source for tests.
type countingReader struct {
	mu sync.Mutex
	n  byte
}

func (r *countingReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range p {
		r.n++
		p[i] = r.n
	}
	return len(p), nil
}

// recAudit records audit events; fail makes Append fail.
type recAudit struct {
	mu     sync.Mutex
	events []hsm.Event
	fail   bool
}

func (a *recAudit) Append(_ context.Context, e hsm.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail {
		return errors.New("disk full")
	}
	a.events = append(a.events, e)
	return nil
}

type fixture struct {
	API    hsm.API
	db     store.DB
	clock  *clock
	audit  *recAudit
	master *key.Master
}

func newFixture(t testing.TB, nf Factory) *fixture {
	t.Helper()
	m, err := key.NewMaster(bytes.Repeat([]byte{7}, key.MasterSize))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: store.NewMemory(), clock: &clock{t: t0}, audit: &recAudit{}, master: m}
	t.Cleanup(func() { f.db.Close() })
	f.API = nf(t, hsm.Config{Store: f.db, Master: m, Rand: &countingReader{}, Now: f.clock.Now, Audit: f.audit})
	return f
}

func aesAttrs(extra ...object.Attribute) []object.Attribute {
	return append([]object.Attribute{
		{Name: object.AttrAlgorithm, Value: object.AlgAES},
		{Name: object.AttrLength, Value: int32(256)},
		{Name: object.AttrUsageMask, Value: object.UsageMaskCrypto},
	}, extra...)
}

func (f *fixture) create(t testing.TB, extra ...object.Attribute) string {
	t.Helper()
	uid, err := f.API.Create(context.Background(), alice, object.TypeSymmetricKey, aesAttrs(extra...))
	if err != nil {
		t.Fatal(err)
	}
	return uid
}

func (f *fixture) attr(t *testing.T, uid, name string) (any, bool) {
	t.Helper()
	as, err := f.API.GetAttributes(context.Background(), alice, uid, []string{name})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) == 0 {
		return nil, false
	}
	return as[0].Value, true
}

func (f *fixture) state(t *testing.T, uid string) object.State {
	t.Helper()
	v, ok := f.attr(t, uid, object.AttrState)
	if !ok {
		t.Fatal("no State")
	}
	return v.(object.State)
}

// TestVCenterFlow follows what vCenter does when encrypting a VM.
func testVCenterFlow(t *testing.T, nf Factory) {
	f := newFixture(t, nf)
	ctx := context.Background()
	uid := f.create(t)
	for _, n := range []string{"x-Product_Version", "x-Vendor", "x-Product"} {
		as, err := f.API.GetAttributes(ctx, alice, uid, []string{n})
		if err != nil || len(as) != 0 {
			t.Fatalf("GetAttributes(%s) = %v, %v; want nothing", n, as, err)
		}
	}
	for _, kv := range [][2]string{{"x-Product_Version", "7.0.3 build-19480866"}, {"x-Vendor", "VMware, Inc."}, {"x-Product", "VMware vSphere"}} {
		a, err := f.API.AddAttribute(ctx, alice, uid, object.Attribute{Name: kv[0], Value: kv[1]})
		if err != nil || a.Index != 0 {
			t.Fatalf("AddAttribute(%s) = %+v, %v", kv[0], a, err)
		}
	}
	m, err := f.API.Get(ctx, alice, uid) // still Pre-Active
	if err != nil {
		t.Fatal(err)
	}
	defer m.Destroy()
	if m.Type != object.TypeSymmetricKey || m.Format != object.FormatRaw || m.Secret.Len() != 32 ||
		m.Algorithm != object.AlgAES || m.Length != 256 {
		t.Fatalf("Get = %+v", m)
	}
	if s := f.state(t, uid); s != object.StatePreActive {
		t.Fatalf("state = %d", s)
	}
	if v, _ := f.attr(t, uid, object.AttrFresh); v != false {
		t.Errorf("Fresh after Get = %v, want false", v)
	}
	if err := f.API.Activate(ctx, alice, uid); err != nil {
		t.Fatal(err)
	}
	if s := f.state(t, uid); s != object.StateActive {
		t.Fatalf("state after Activate = %d", s)
	}
	if v, _ := f.attr(t, uid, "x-Vendor"); v != "VMware, Inc." {
		t.Errorf("x-Vendor = %v", v)
	}
	// Digest is SHA-256 of the raw key.
	raw, _ := m.Secret.Bytes()
	if d, _ := f.attr(t, uid, object.AttrDigest); d == nil || !bytes.Equal(d.(object.Digest).Value, sha256Sum(raw)) {
		t.Errorf("Digest = %v", d)
	}
	// Get was audited as an export.
	var exported bool
	for _, e := range f.audit.events {
		exported = exported || (e.Op == "Get" && e.Export && e.Identity == "alice" && e.UIDs[0] == uid && e.Err == nil)
	}
	if !exported {
		t.Error("Get not audited as export")
	}
}

func testCreateValidation(t *testing.T, nf Factory) {
	ctx := context.Background()
	tests := []struct {
		name  string
		id    hsm.Identity
		typ   object.Type
		attrs []object.Attribute
		want  error
	}{
		{"no identity", hsm.Identity{}, object.TypeSymmetricKey, aesAttrs(), hsm.ErrPermission},
		{"oversized identity", hsm.Identity{Name: strings.Repeat("a", hsm.MaxIdentityLen+1)}, object.TypeSymmetricKey, aesAttrs(), hsm.ErrPermission},
		{"identity not UTF-8", hsm.Identity{Name: "\xff"}, object.TypeSymmetricKey, aesAttrs(), hsm.ErrPermission},
		{"secret data", alice, object.TypeSecretData, aesAttrs(), hsm.ErrNotSupported},
		{"no algorithm", alice, object.TypeSymmetricKey, aesAttrs()[1:], hsm.ErrInvalid},
		{"no usage mask", alice, object.TypeSymmetricKey, aesAttrs()[:2], hsm.ErrInvalid},
		{"bad AES length", alice, object.TypeSymmetricKey, []object.Attribute{
			{Name: object.AttrAlgorithm, Value: object.AlgAES}, {Name: object.AttrLength, Value: int32(100)},
			{Name: object.AttrUsageMask, Value: object.UsageMaskCrypto}}, hsm.ErrInvalid},
		{"Blowfish", alice, object.TypeSymmetricKey, []object.Attribute{
			{Name: object.AttrAlgorithm, Value: object.Algorithm(0x10)}, {Name: object.AttrLength, Value: int32(128)},
			{Name: object.AttrUsageMask, Value: object.UsageMaskCrypto}}, hsm.ErrNotSupported},
		{"RC4 (weak)", alice, object.TypeSymmetricKey, []object.Attribute{
			{Name: object.AttrAlgorithm, Value: object.Algorithm(0x16)}, {Name: object.AttrLength, Value: int32(128)},
			{Name: object.AttrUsageMask, Value: object.UsageMaskCrypto}}, hsm.ErrInvalid},
		{"SKIPJACK (weak)", alice, object.TypeSymmetricKey, []object.Attribute{
			{Name: object.AttrAlgorithm, Value: object.Algorithm(0x18)}, {Name: object.AttrLength, Value: int32(80)},
			{Name: object.AttrUsageMask, Value: object.UsageMaskCrypto}}, hsm.ErrInvalid},
		{"two-key 3DES (weak)", alice, object.TypeSymmetricKey, []object.Attribute{
			{Name: object.AttrAlgorithm, Value: object.Alg3DES}, {Name: object.AttrLength, Value: int32(112)},
			{Name: object.AttrUsageMask, Value: object.UsageMaskCrypto}}, hsm.ErrInvalid},
		{"single DES (weak)", alice, object.TypeSymmetricKey, []object.Attribute{
			{Name: object.AttrAlgorithm, Value: object.AlgDES}, {Name: object.AttrLength, Value: int32(56)},
			{Name: object.AttrUsageMask, Value: object.UsageMaskCrypto}}, hsm.ErrInvalid},
		{"HMAC-SHA256 of 64 bits (weak)", alice, object.TypeSymmetricKey, []object.Attribute{
			{Name: object.AttrAlgorithm, Value: object.AlgHMACSHA256}, {Name: object.AttrLength, Value: int32(64)},
			{Name: object.AttrUsageMask, Value: object.UsageMaskCrypto}}, hsm.ErrInvalid},
		{"server-only State", alice, object.TypeSymmetricKey, aesAttrs(object.Attribute{Name: object.AttrState, Value: object.StateActive}), hsm.ErrPermission},
		{"server-only Digest", alice, object.TypeSymmetricKey, aesAttrs(object.Attribute{Name: object.AttrDigest, Value: object.Digest{Algorithm: object.HashSHA256, Value: []byte{1}}}), hsm.ErrPermission},
		{"y- attribute", alice, object.TypeSymmetricKey, aesAttrs(object.Attribute{Name: "y-x", Value: "v"}), hsm.ErrPermission},
		{"unknown attribute", alice, object.TypeSymmetricKey, aesAttrs(object.Attribute{Name: "Colour", Value: "v"}), hsm.ErrInvalid},
		{"length twice", alice, object.TypeSymmetricKey, aesAttrs(object.Attribute{Name: object.AttrLength, Value: int32(128)}), hsm.ErrIllegal},
		{"wrong value type", alice, object.TypeSymmetricKey, aesAttrs(object.Attribute{Name: object.AttrContactInfo, Value: int32(1)}), hsm.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nf)
			uid, err := f.API.Create(ctx, tt.id, tt.typ, tt.attrs)
			if !errors.Is(err, tt.want) || uid != "" {
				t.Fatalf("Create = %q, %v; want error %v", uid, err, tt.want)
			}
		})
	}
}

func testCreateAlgorithms(t *testing.T, nf Factory) {
	tests := []struct {
		alg   object.Algorithm
		bits  int32
		bytes int
	}{
		{object.AlgAES, 128, 16}, {object.AlgAES, 192, 24}, {object.AlgAES, 256, 32},
		{object.Alg3DES, 168, 24}, {object.Alg3DES, 192, 24},
		{object.AlgHMACSHA256, 256, 32}, {object.AlgHMACSHA512, 512, 64}, {object.AlgHMACSHA1, 160, 20},
	}
	f := newFixture(t, nf)
	ctx := context.Background()
	for _, tt := range tests {
		uid, err := f.API.Create(ctx, alice, object.TypeSymmetricKey, []object.Attribute{
			{Name: object.AttrAlgorithm, Value: tt.alg}, {Name: object.AttrLength, Value: tt.bits},
			{Name: object.AttrUsageMask, Value: object.UsageMACGen}})
		if err != nil {
			t.Fatalf("%d/%d: %v", tt.alg, tt.bits, err)
		}
		m, err := f.API.Get(ctx, alice, uid)
		if err != nil {
			t.Fatal(err)
		}
		if m.Secret.Len() != tt.bytes || m.Algorithm != tt.alg || m.Length != tt.bits {
			t.Errorf("%d/%d: got %d bytes, alg %d, length %d", tt.alg, tt.bits, m.Secret.Len(), m.Algorithm, m.Length)
		}
		m.Destroy()
	}
}

func testActivationDateAtCreation(t *testing.T, nf Factory) {
	f := newFixture(t, nf)
	past := f.create(t, object.Attribute{Name: object.AttrActivationDate, Value: t0.Add(-time.Minute)})
	if s := f.state(t, past); s != object.StateActive {
		t.Errorf("past activation date: state %d, want Active", s)
	}
	future := f.create(t, object.Attribute{Name: object.AttrActivationDate, Value: t0.Add(time.Hour)},
		object.Attribute{Name: object.AttrDeactivationDate, Value: t0.Add(2 * time.Hour)})
	if s := f.state(t, future); s != object.StatePreActive {
		t.Errorf("future activation date: state %d, want Pre-Active", s)
	}
	f.clock.Add(time.Hour)
	if s := f.state(t, future); s != object.StateActive {
		t.Errorf("at activation date: state %d, want Active", s)
	}
	// Locate sees the date-driven state.
	got, err := f.API.Locate(context.Background(), alice, hsm.Query{Attrs: []object.Attribute{{Name: object.AttrState, Value: object.StateActive}}})
	if err != nil || len(got) != 2 {
		t.Errorf("Locate Active = %v, %v; want 2", got, err)
	}
	f.clock.Add(time.Hour)
	if s := f.state(t, future); s != object.StateDeactivated {
		t.Errorf("at deactivation date: state %d, want Deactivated", s)
	}
	// A write persists the transition.
	if _, err := f.API.AddAttribute(context.Background(), alice, future, object.Attribute{Name: "x-a", Value: "b"}); err != nil {
		t.Fatal(err)
	}
	o := f.raw(t, future)
	if o.StoredState() != object.StateDeactivated {
		t.Errorf("stored state = %d, want Deactivated", o.StoredState())
	}
}

// raw opens the stored record of uid directly.
func (f *fixture) raw(t *testing.T, uid string) *object.Object {
	t.Helper()
	data, err := f.db.Get(context.Background(), uid)
	if err != nil {
		t.Fatal(err)
	}
	a, err := key.NewRecordAEAD(f.master)
	if err != nil {
		t.Fatal(err)
	}
	o, err := object.OpenRecord(a, uid, data)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func testModifyActivationDate(t *testing.T, nf Factory) {
	f := newFixture(t, nf)
	ctx := context.Background()
	uid := f.create(t, object.Attribute{Name: object.AttrActivationDate, Value: t0.Add(time.Hour)})
	if s := f.state(t, uid); s != object.StatePreActive {
		t.Fatalf("state = %d", s)
	}
	// Moving the Activation Date to now activates the key (KMIP 3.22).
	if _, err := f.API.ModifyAttribute(ctx, alice, uid, object.Attribute{Name: object.AttrActivationDate, Value: t0}); err != nil {
		t.Fatal(err)
	}
	if s := f.state(t, uid); s != object.StateActive {
		t.Fatalf("state after moving the activation date = %d, want Active", s)
	}
	if err := f.API.Activate(ctx, alice, uid); !errors.Is(err, hsm.ErrWrongState) {
		t.Errorf("Activate of an Active key: %v, want ErrWrongState", err)
	}
}

func testDestroy(t *testing.T, nf Factory) {
	f := newFixture(t, nf)
	ctx := context.Background()
	uid := f.create(t, object.Attribute{Name: object.AttrName, Value: object.Name{Value: "vm-key", Type: object.NameText}})
	if err := f.API.Activate(ctx, alice, uid); err != nil {
		t.Fatal(err)
	}
	if err := f.API.Destroy(ctx, alice, uid); !errors.Is(err, hsm.ErrWrongState) {
		t.Fatalf("Destroy of Active key: %v, want hsm.ErrWrongState", err)
	}
	if err := f.API.Revoke(ctx, alice, uid, object.RevocationReason{Code: object.RevokeCessationOfOperation}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := f.API.Destroy(ctx, alice, uid); err != nil {
		t.Fatal(err)
	}
	if _, err := f.API.Get(ctx, alice, uid); !errors.Is(err, hsm.ErrNotFound) {
		t.Fatalf("Get of destroyed key: %v, want hsm.ErrNotFound", err)
	}
	if s := f.state(t, uid); s != object.StateDestroyed {
		t.Errorf("state = %d", s)
	}
	if v, ok := f.attr(t, uid, object.AttrName); !ok || v.(object.Name).Value != "vm-key" {
		t.Error("metadata lost")
	}
	if d, ok := f.attr(t, uid, object.AttrDestroyDate); !ok || !d.(time.Time).Equal(t0) {
		t.Errorf("Destroy Date = %v", d)
	}
	if o := f.raw(t, uid); o.Secret != nil {
		t.Error("stored record still holds key material")
	}
	if err := f.API.Destroy(ctx, alice, uid); !errors.Is(err, hsm.ErrWrongState) {
		t.Errorf("second Destroy: %v", err)
	}
	// Compromise of a destroyed key.
	if err := f.API.Revoke(ctx, alice, uid, object.RevocationReason{Code: object.RevokeKeyCompromise}, t0); err != nil {
		t.Fatal(err)
	}
	if s := f.state(t, uid); s != object.StateDestroyedCompromised {
		t.Errorf("state = %d, want Destroyed Compromised", s)
	}
	// Destroyed objects are hidden from Locate unless State is asked for.
	if got, _ := f.API.Locate(ctx, alice, hsm.Query{Attrs: []object.Attribute{{Name: object.AttrName, Value: object.Name{Value: "vm-key", Type: object.NameText}}}}); len(got) != 0 {
		t.Errorf("Locate found destroyed key: %v", got)
	}
	if got, _ := f.API.Locate(ctx, alice, hsm.Query{Attrs: []object.Attribute{{Name: object.AttrState, Value: object.StateDestroyedCompromised}}}); len(got) != 1 {
		t.Errorf("Locate by state = %v", got)
	}
}

func testAttributeOperations(t *testing.T, nf Factory) {
	ctx := context.Background()
	date := t0.Add(time.Hour)
	tests := []struct {
		name   string
		active bool
		op     func(c hsm.API, uid string) error
		want   error
	}{
		{"add x- attr", false, func(c hsm.API, uid string) error {
			_, err := c.AddAttribute(ctx, alice, uid, object.Attribute{Name: "x-Component", Value: "Virtual Machine"})
			return err
		}, nil},
		{"add y- attr", false, func(c hsm.API, uid string) error {
			_, err := c.AddAttribute(ctx, alice, uid, object.Attribute{Name: "y-Server", Value: "v"})
			return err
		}, hsm.ErrPermission},
		{"add State", false, func(c hsm.API, uid string) error {
			_, err := c.AddAttribute(ctx, alice, uid, object.Attribute{Name: object.AttrState, Value: object.StateActive})
			return err
		}, hsm.ErrPermission},
		{"add Usage Mask (creation only)", false, func(c hsm.API, uid string) error {
			_, err := c.AddAttribute(ctx, alice, uid, object.Attribute{Name: object.AttrUsageMask, Value: object.UsageSign})
			return err
		}, hsm.ErrPermission},
		{"add second Contact Information", false, func(c hsm.API, uid string) error {
			_, err := c.AddAttribute(ctx, alice, uid, object.Attribute{Name: object.AttrContactInfo, Value: "x"})
			return err
		}, hsm.ErrIllegal},
		{"add Activation Date pre-active", false, func(c hsm.API, uid string) error {
			_, err := c.AddAttribute(ctx, alice, uid, object.Attribute{Name: object.AttrActivationDate, Value: date})
			return err
		}, nil},
		{"modify Activation Date on Active key (SKLC-M-3)", true, func(c hsm.API, uid string) error {
			_, err := c.ModifyAttribute(ctx, alice, uid, object.Attribute{Name: object.AttrActivationDate, Value: date})
			return err
		}, hsm.ErrWrongState},
		{"modify Deactivation Date on Active key", true, func(c hsm.API, uid string) error {
			_, err := c.AddAttribute(ctx, alice, uid, object.Attribute{Name: object.AttrDeactivationDate, Value: date})
			return err
		}, nil},
		{"modify Cryptographic Length", false, func(c hsm.API, uid string) error {
			_, err := c.ModifyAttribute(ctx, alice, uid, object.Attribute{Name: object.AttrLength, Value: int32(128)})
			return err
		}, hsm.ErrPermission},
		{"modify Contact Information", true, func(c hsm.API, uid string) error {
			_, err := c.ModifyAttribute(ctx, alice, uid, object.Attribute{Name: object.AttrContactInfo, Value: "new"})
			return err
		}, nil},
		{"modify absent attribute", false, func(c hsm.API, uid string) error {
			_, err := c.ModifyAttribute(ctx, alice, uid, object.Attribute{Name: "x-absent", Value: "v"})
			return err
		}, hsm.ErrInvalid},
		{"modify missing instance", false, func(c hsm.API, uid string) error {
			_, err := c.ModifyAttribute(ctx, alice, uid, object.Attribute{Name: object.AttrContactInfo, Index: 3, Value: "v"})
			return err
		}, hsm.ErrNotFound},
		{"delete Contact Information", true, func(c hsm.API, uid string) error {
			_, err := c.DeleteAttribute(ctx, alice, uid, object.AttrContactInfo, 0)
			return err
		}, nil},
		{"delete Digest", false, func(c hsm.API, uid string) error {
			_, err := c.DeleteAttribute(ctx, alice, uid, object.AttrDigest, 0)
			return err
		}, hsm.ErrPermission},
		{"delete Object Group", false, func(c hsm.API, uid string) error {
			_, err := c.DeleteAttribute(ctx, alice, uid, object.AttrObjectGroup, 0)
			return err
		}, hsm.ErrPermission},
		{"delete missing Name", false, func(c hsm.API, uid string) error {
			_, err := c.DeleteAttribute(ctx, alice, uid, object.AttrName, 5)
			return err
		}, hsm.ErrNotFound},
		{"unknown object", false, func(c hsm.API, uid string) error {
			_, err := c.AddAttribute(ctx, alice, "nope", object.Attribute{Name: "x-a", Value: "v"})
			return err
		}, hsm.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nf)
			uid := f.create(t,
				object.Attribute{Name: object.AttrContactInfo, Value: "ops@example.com"},
				object.Attribute{Name: object.AttrObjectGroup, Value: "g"})
			if tt.active {
				if err := f.API.Activate(ctx, alice, uid); err != nil {
					t.Fatal(err)
				}
			}
			before := f.raw(t, uid)
			err := tt.op(f.API, uid)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want != nil {
				after := f.raw(t, uid)
				if len(after.Attrs) != len(before.Attrs) {
					t.Error("failed operation changed the object")
				}
			}
		})
	}
}

func testAttributeIndices(t *testing.T, nf Factory) {
	f := newFixture(t, nf)
	ctx := context.Background()
	uid := f.create(t)
	for i := range 3 {
		a, err := f.API.AddAttribute(ctx, alice, uid, object.Attribute{Name: object.AttrName, Value: object.Name{Value: string(rune('a' + i)), Type: object.NameText}})
		if err != nil || a.Index != i {
			t.Fatalf("add name %d: %+v %v", i, a, err)
		}
	}
	mod, err := f.API.ModifyAttribute(ctx, alice, uid, object.Attribute{Name: object.AttrName, Index: 1, Value: object.Name{Value: "B", Type: object.NameText}})
	if err != nil || mod.Index != 1 || mod.Value.(object.Name).Value != "B" {
		t.Fatalf("modify = %+v, %v", mod, err)
	}
	del, err := f.API.DeleteAttribute(ctx, alice, uid, object.AttrName, 0)
	if err != nil || del.Value.(object.Name).Value != "a" {
		t.Fatalf("delete = %+v, %v", del, err)
	}
	as, _ := f.API.GetAttributes(ctx, alice, uid, []string{object.AttrName})
	var got []string
	for _, a := range as {
		got = append(got, a.Value.(object.Name).Value)
	}
	if len(got) != 2 || got[0] != "B" || got[1] != "c" || as[0].Index != 1 || as[1].Index != 2 {
		t.Errorf("names = %v (%+v)", got, as)
	}
	if _, err := f.API.GetAttributes(ctx, alice, uid, []string{"Name", "Name"}); !errors.Is(err, hsm.ErrInvalid) {
		t.Errorf("same name twice: %v", err)
	}
	names, err := f.API.GetAttributeList(ctx, alice, uid)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{object.AttrUniqueIdentifier: true, object.AttrObjectType: true, object.AttrName: true,
		object.AttrAlgorithm: true, object.AttrState: true, object.AttrDigest: true, object.AttrFresh: true,
		object.AttrInitialDate: true, object.AttrLastChangeDate: true, object.AttrLength: true, object.AttrUsageMask: true}
	if len(names) != len(want) {
		t.Errorf("attribute list = %v", names)
	}
	for _, n := range names {
		if !want[n] {
			t.Errorf("unexpected attribute %q", n)
		}
	}
}

func testLastChangeDate(t *testing.T, nf Factory) {
	f := newFixture(t, nf)
	uid := f.create(t)
	f.clock.Add(time.Minute)
	if err := f.API.Activate(context.Background(), alice, uid); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.attr(t, uid, object.AttrLastChangeDate); !v.(time.Time).Equal(t0.Add(time.Minute)) {
		t.Errorf("Last Change Date = %v", v)
	}
	if v, _ := f.attr(t, uid, object.AttrInitialDate); !v.(time.Time).Equal(t0) {
		t.Errorf("Initial Date = %v", v)
	}
}

func testCorruptRecordDetected(t *testing.T, nf Factory) {
	f := newFixture(t, nf)
	ctx := context.Background()
	uid := f.create(t)
	data, err := f.db.Get(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, len(data) / 2, len(data) - 1} {
		bad := bytes.Clone(data)
		bad[i] ^= 0x01
		if err := f.db.Put(ctx, store.Record{UID: uid, Data: bad}); err != nil {
			t.Fatal(err)
		}
		m, err := f.API.Get(ctx, alice, uid)
		if !errors.Is(err, hsm.ErrCorrupt) || m != nil {
			t.Fatalf("byte %d flipped: Get = %v, %v; want hsm.ErrCorrupt", i, m, err)
		}
		if _, err := f.API.GetAttributes(ctx, alice, uid, nil); !errors.Is(err, hsm.ErrCorrupt) {
			t.Fatalf("GetAttributes: %v, want hsm.ErrCorrupt", err)
		}
		if err := f.API.Activate(ctx, alice, uid); !errors.Is(err, hsm.ErrCorrupt) {
			t.Fatalf("Activate: %v, want hsm.ErrCorrupt", err)
		}
	}
	// A record copied to another UID does not open either.
	other := f.create(t)
	if err := f.db.Put(ctx, store.Record{UID: other, Data: data}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.API.Get(ctx, alice, other); !errors.Is(err, hsm.ErrCorrupt) {
		t.Fatalf("swapped record: %v, want hsm.ErrCorrupt", err)
	}
}

func testAuditFailureWithholdsMaterial(t *testing.T, nf Factory) {
	f := newFixture(t, nf)
	uid := f.create(t)
	f.audit.fail = true
	m, err := f.API.Get(context.Background(), alice, uid)
	if !errors.Is(err, hsm.ErrAudit) || m != nil {
		t.Fatalf("Get with failing audit = %v, %v; want nil, hsm.ErrAudit", m, err)
	}
}

func testCheck(t *testing.T, nf Factory) {
	f := newFixture(t, nf)
	ctx := context.Background()
	uid := f.create(t)
	if err := f.API.Check(ctx, alice, uid, object.UsageEncrypt); err != nil {
		t.Errorf("Check encrypt: %v", err)
	}
	err := f.API.Check(ctx, alice, uid, object.UsageSign)
	var ce *hsm.CheckError
	if !errors.As(err, &ce) || !errors.Is(err, hsm.ErrPermission) || ce.Attrs[0].Name != object.AttrUsageMask {
		t.Errorf("Check sign = %v, want hsm.CheckError on usage mask", err)
	}
	if err := f.API.Check(ctx, alice, "missing", 0); !errors.Is(err, hsm.ErrNotFound) {
		t.Errorf("Check missing: %v", err)
	}
}

func testConcurrentUpdates(t *testing.T, nf Factory) {
	f := newFixture(t, nf)
	ctx := context.Background()
	uid := f.create(t)
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := f.API.AddAttribute(ctx, alice, uid, object.Attribute{Name: "x-n", Value: int32(w*each + i)}); err != nil {
					errs <- err
				}
				if _, err := f.API.Create(ctx, alice, object.TypeSymmetricKey, aesAttrs()); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	as, err := f.API.GetAttributes(ctx, alice, uid, []string{"x-n"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int32]bool{}
	for i, a := range as {
		if a.Index != i {
			t.Fatalf("instance %d has index %d", i, a.Index)
		}
		seen[a.Value.(int32)] = true
	}
	if len(seen) != workers*each {
		t.Fatalf("%d distinct values, want %d (lost updates)", len(seen), workers*each)
	}
	all, _ := f.API.Locate(ctx, alice, hsm.Query{})
	if len(all) != 1+workers*each {
		t.Fatalf("Locate all = %d objects, want %d", len(all), 1+workers*each)
	}
}
