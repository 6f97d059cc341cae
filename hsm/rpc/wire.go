// Package rpc carries hsm.API over a narrow CBOR RPC on a unix socket:
// hsmd serves it, the KMIP listener (kmipd) is the client. The client
// holds no key but the master-key-free results it is given.
//
// Wire format: each message is a frame of a 4-byte big-endian length
// followed by that many bytes of CBOR (core deterministic encoding,
// integer keys). A connection carries one request at a time: the client
// sends a request frame and reads one response frame. Requests larger
// than MaxRequest and responses larger than MaxResponse are refused; the
// server closes a connection on a framing error and answers a request
// that does not decode with an Invalid error. Decoding refuses duplicate
// keys, indefinite lengths, tags, invalid UTF-8 and unknown fields.
//
// The identity in a request is trusted: only kmipd, which authenticates
// KMIP clients, can reach the socket (its mode is 0600 and it lives in a
// directory of the hsmd user).
package rpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cofferhsm/coffer/hsm/object"
	"github.com/fxamacker/cbor/v2"
)

// Frame limits.
const (
	MaxRequest  = 1 << 20
	MaxResponse = 16 << 20
)

// ErrProtocol reports a malformed or oversized frame or message.
var ErrProtocol = errors.New("rpc: protocol error")

// Operation codes. Never renumber.
const (
	opCreate uint8 = iota + 1
	opCreateKeyPair
	opRegister
	opGet
	opGetAttributes
	opGetAttributeList
	opAddAttribute
	opModifyAttribute
	opDeleteAttribute
	opActivate
	opRevoke
	opDestroy
	opLocate
	opReKey
	opReKeyKeyPair
	opCheck
	opGetUsageAllocation
	opMax
)

type wireIdentity struct {
	Name   string   `cbor:"1,keyasint"`
	Groups []string `cbor:"2,keyasint,omitempty"`
}

type wireContent struct {
	Type     uint32            `cbor:"1,keyasint"`
	Format   uint32            `cbor:"2,keyasint,omitempty"`
	Secret   []byte            `cbor:"3,keyasint,omitempty"`
	Public   []byte            `cbor:"4,keyasint,omitempty"`
	SubType  uint32            `cbor:"5,keyasint,omitempty"`
	Template []object.AttrCBOR `cbor:"6,keyasint,omitempty"`
	Export   uint32            `cbor:"7,keyasint,omitempty"` // Content.ExportFormat
}

// request is the union of every operation's arguments; each operation
// uses the fields its method takes.
type request struct {
	Op          uint8             `cbor:"1,keyasint"`
	Who         wireIdentity      `cbor:"2,keyasint"`
	UID         string            `cbor:"3,keyasint,omitempty"`
	Type        uint32            `cbor:"4,keyasint,omitempty"`
	Attrs       []object.AttrCBOR `cbor:"5,keyasint,omitempty"` // attrs, common, Locate filters
	Priv        []object.AttrCBOR `cbor:"6,keyasint,omitempty"`
	Pub         []object.AttrCBOR `cbor:"7,keyasint,omitempty"`
	Names       []string          `cbor:"8,keyasint,omitempty"`
	Name        string            `cbor:"9,keyasint,omitempty"`
	Index       int               `cbor:"10,keyasint,omitempty"`
	Content     *wireContent      `cbor:"11,keyasint,omitempty"`
	Reason      uint32            `cbor:"12,keyasint,omitempty"`
	Message     string            `cbor:"13,keyasint,omitempty"`
	Time        int64             `cbor:"14,keyasint,omitempty"` // Unix seconds; 0 = none
	Offset      int64             `cbor:"15,keyasint,omitempty"` // seconds; -1 = none
	Usage       int32             `cbor:"16,keyasint,omitempty"`
	MaxItems    int               `cbor:"17,keyasint,omitempty"`
	GroupMember uint32            `cbor:"18,keyasint,omitempty"`
	Count       int64             `cbor:"19,keyasint,omitempty"` // Get Usage Allocation
}

// Error codes in responses. Never renumber.
const (
	codeOK uint8 = iota
	codeNotFound
	codePermission
	codeWrongState
	codeInvalid
	codeIllegal
	codeNotSupported
	codeCorrupt
	codeAudit
	codeCheck    // a *hsm.CheckError; Attrs holds its attributes
	codeInternal // anything else; the detail stays in hsmd's log
)

type response struct {
	Code      uint8             `cbor:"1,keyasint,omitempty"`
	Message   string            `cbor:"2,keyasint,omitempty"`
	UID       string            `cbor:"3,keyasint,omitempty"`
	UID2      string            `cbor:"4,keyasint,omitempty"`
	Attrs     []object.AttrCBOR `cbor:"5,keyasint,omitempty"`
	Names     []string          `cbor:"6,keyasint,omitempty"` // names or UIDs
	Content   *wireContent      `cbor:"7,keyasint,omitempty"`
	Algorithm uint32            `cbor:"8,keyasint,omitempty"`
	Length    int32             `cbor:"9,keyasint,omitempty"`
}

var (
	encMode = mustEnc(cbor.CoreDetEncOptions().EncMode())
	decMode = mustDec(cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   8,
		MaxArrayElements:  1 << 20,
		MaxMapPairs:       64,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode())
)

// mustEnc and mustDec check constant options when the package loads.
func mustEnc(m cbor.EncMode, err error) cbor.EncMode {
	if err != nil {
		panic(err)
	}
	return m
}

func mustDec(m cbor.DecMode, err error) cbor.DecMode {
	if err != nil {
		panic(err)
	}
	return m
}

// writeFrame writes one frame.
func writeFrame(w io.Writer, b []byte) error {
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	_, err := w.Write(buf)
	clear(buf)
	return err
}

// readFrame reads one frame of at most max bytes. io.EOF means a clean
// end before the frame started.
func readFrame(r io.Reader, max int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || uint64(n) > uint64(max) {
		return nil, fmt.Errorf("%w: frame of %d bytes (max %d)", ErrProtocol, n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: truncated frame: %v", ErrProtocol, err)
	}
	return b, nil
}

func toWire(as []object.Attribute) ([]object.AttrCBOR, error) {
	if len(as) == 0 {
		return nil, nil
	}
	out := make([]object.AttrCBOR, len(as))
	for i, a := range as {
		c, err := object.ToCBOR(a)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

func fromWire(cs []object.AttrCBOR) ([]object.Attribute, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	out := make([]object.Attribute, len(cs))
	for i, c := range cs {
		a, err := object.FromCBOR(c)
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}
