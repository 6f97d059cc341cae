package rpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/hsmtest"
	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/hsm/object"
	"github.com/cofferhsm/coffer/hsm/store"
)

// serve starts a Server for api on a fresh unix socket and returns its path.
func serve(t testing.TB, api hsm.API) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rpc") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "hsmd.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{API: api, Log: log.New(io.Discard, "", 0)}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve = %v", err)
		}
		os.RemoveAll(dir)
	})
	return path
}

func TestAPIOverRPC(t *testing.T) {
	hsmtest.Run(t, func(t testing.TB, cfg hsm.Config) hsm.API {
		core, err := hsm.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c := Dial(serve(t, core))
		t.Cleanup(func() { c.Close() })
		return c
	})
}

func newCore(t testing.TB) *hsm.Core {
	t.Helper()
	m, err := key.NewMaster(bytes.Repeat([]byte{3}, key.MasterSize))
	if err != nil {
		t.Fatal(err)
	}
	db := store.NewMemory()
	t.Cleanup(func() { db.Close() })
	c, err := hsm.New(hsm.Config{Store: db, Master: m})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func rawConn(t *testing.T, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

// expectClosed checks that the server closed c without answering.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	var b [1]byte
	if n, err := c.Read(b[:]); err == nil || n != 0 {
		t.Fatalf("server answered a bad frame (n=%d, err=%v)", n, err)
	}
}

func TestServerRejectsBadFrames(t *testing.T) {
	path := serve(t, newCore(t))
	valid, err := encMode.Marshal(request{Op: opActivate, Who: wireIdentity{Name: "a"}, UID: "1"})
	if err != nil {
		t.Fatal(err)
	}
	frame := func(b []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
	}
	for _, tt := range []struct {
		name string
		in   []byte
	}{
		{"zero length", []byte{0, 0, 0, 0}},
		{"oversized", binary.BigEndian.AppendUint32(nil, MaxRequest+1)},
		{"truncated", append(binary.BigEndian.AppendUint32(nil, 10), 1, 2, 3)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := rawConn(t, path)
			if _, err := c.Write(tt.in); err != nil {
				t.Fatal(err)
			}
			if tt.name == "truncated" {
				c.(*net.UnixConn).CloseWrite()
			}
			expectClosed(t, c)
		})
	}
	// Well-framed messages that do not decode get an Invalid answer and the
	// connection stays usable.
	c := rawConn(t, path)
	for _, tt := range []struct {
		name string
		in   []byte
	}{
		{"not CBOR", []byte{0xff, 0xff}},
		{"unknown field", append([]byte{0xa4}, append(valid[1:], 0x18, 0x63, 0x00)...)},
		{"duplicate key", []byte{0xa2, 0x01, 0x01, 0x01, 0x01}},
		{"tag", []byte{0xa1, 0x01, 0xc1, 0x01}},
		{"indefinite map", []byte{0xbf, 0x01, 0x01, 0xff}},
		{"invalid UTF-8", []byte{0xa2, 0x01, 0x0a, 0x03, 0x61, 0xff}},
		{"trailing bytes", append(bytes.Clone(valid), 0)},
	} {
		if _, err := c.Write(frame(tt.in)); err != nil {
			t.Fatal(err)
		}
		out, err := readFrame(c, MaxResponse)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var r response
		if err := decMode.Unmarshal(out, &r); err != nil || r.Code != codeInvalid {
			t.Errorf("%s: response %+v, %v; want codeInvalid", tt.name, r, err)
		}
	}
	// Every strict prefix of a valid request body fails to decode.
	for j := range len(valid) {
		var q request
		if err := decMode.Unmarshal(valid[:j], &q); err == nil {
			t.Fatalf("prefix %d/%d decoded", j, len(valid))
		}
	}
	// The valid request itself gets an answer (Item Not Found).
	if _, err := c.Write(frame(valid)); err != nil {
		t.Fatal(err)
	}
	out, err := readFrame(c, MaxResponse)
	if err != nil {
		t.Fatal(err)
	}
	var r response
	if err := decMode.Unmarshal(out, &r); err != nil || r.Code != codeNotFound {
		t.Fatalf("response = %+v, %v; want codeNotFound", r, err)
	}
}

type failingAPI struct{ hsm.API }

func (failingAPI) Activate(context.Context, hsm.Identity, string) error {
	return errors.New("disk on fire at /dev/sda")
}

func TestErrorMapping(t *testing.T) {
	c := Dial(serve(t, failingAPI{newCore(t)}))
	defer c.Close()
	ctx := context.Background()
	id := hsm.Identity{Name: "a"}
	err := c.Activate(ctx, id, "1")
	if !errors.Is(err, errInternal) || err.Error() != "internal error" {
		t.Fatalf("internal error = %v; want a generic message", err)
	}
	if _, err := c.call(ctx, id, &request{Op: opMax}); !errors.Is(err, hsm.ErrNotSupported) {
		t.Fatalf("unknown op: %v", err)
	}
	if _, err := c.Get(ctx, id, "missing"); !errors.Is(err, hsm.ErrNotFound) {
		t.Fatalf("Get missing: %v", err)
	}
	// Attribute values that have no wire form fail before sending.
	if _, err := c.Create(ctx, id, object.TypeSymmetricKey, []object.Attribute{{Name: "x-f", Value: 1.5}}); !errors.Is(err, hsm.ErrInvalid) {
		t.Fatalf("float attribute: %v", err)
	}
	c.Close()
	if _, err := c.Get(ctx, id, "1"); !errors.Is(err, errClientClosed) {
		t.Fatalf("closed client: %v", err)
	}
}

func TestClientRefusesOversizedResponse(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := NewClient(func(context.Context) (net.Conn, error) { return a, nil })
	go func() {
		if _, err := readFrame(b, MaxRequest); err != nil {
			return
		}
		b.Write(binary.BigEndian.AppendUint32(nil, MaxResponse+1))
	}()
	if err := c.Activate(context.Background(), hsm.Identity{Name: "a"}, "1"); !errors.Is(err, ErrProtocol) {
		t.Fatalf("oversized response: %v", err)
	}
}

func BenchmarkGetRPC(b *testing.B) {
	core := newCore(b)
	ctx := context.Background()
	id := hsm.Identity{Name: "bench"}
	uid, err := core.Create(ctx, id, object.TypeSymmetricKey, []object.Attribute{
		{Name: object.AttrAlgorithm, Value: object.AlgAES}, {Name: object.AttrLength, Value: int32(256)},
		{Name: object.AttrUsageMask, Value: object.UsageMaskCrypto}})
	if err != nil {
		b.Fatal(err)
	}
	c := Dial(serve(b, core))
	defer c.Close()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m, err := c.Get(ctx, id, uid)
			if err != nil {
				b.Error(err)
				return
			}
			m.Destroy()
		}
	})
}
