package disk

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cofferhsm/coffer/hsm/key"
)

// Layout constants. See the package comment.
const (
	// Magic starts every header.
	Magic = "COFFERD1"
	// Version is the header format version this package writes.
	Version = 1
	// HeaderSize is the size of the header area read and written.
	HeaderSize = 8192
	// ReservedSize is the plaintext area at the start of the disk.
	ReservedSize = 1 << 20
	// DefaultDataOffset is where Format puts the encrypted data.
	DefaultDataOffset = ReservedSize
	// MaxDataOffset bounds the data offset accepted in a header.
	MaxDataOffset = 64 << 20
	// MaxSealedSize bounds the sealed master-key blob (hsm/seal blobs are
	// at most seal.MaxBlobSize bytes, which is smaller).
	MaxSealedSize = HeaderSize - fixedSize - checksumSize
	// MinDataSize is the smallest encrypted area Format accepts.
	MinDataSize = 16 << 20

	// LabelKeyCheck derives the key-check HMAC key from the master key.
	LabelKeyCheck = "coffer disk key-check v1"

	fixedSize    = 64
	checksumSize = sha256.Size
	kcvOff       = 32
)

// Errors. Every error of ReadHeader, ParseHeader, Verify and Format wraps
// one of these or is an I/O error from the device.
var (
	// ErrNoHeader: the header area is all zero (a fresh disk).
	ErrNoHeader = errors.New("disk: no header (blank disk)")
	// ErrCorruptHeader: the header area holds something that is not a
	// valid header (bad magic, checksum, length, reserved bytes).
	ErrCorruptHeader = errors.New("disk: corrupt header")
	// ErrVersion: a well-formed header of a version this build cannot read.
	ErrVersion = errors.New("disk: unsupported header version")
	// ErrKeyCheck: the key-check value does not match the master key (a
	// wrong master key or a tampered header).
	ErrKeyCheck = errors.New("disk: key check failed (wrong master key or tampered header)")
	// ErrHeaderExists: Format found a header (valid or not) and refused.
	ErrHeaderExists = errors.New("disk: disk already has a header; refusing to format")
	// ErrDeviceTooSmall: the device cannot hold the header and MinDataSize.
	ErrDeviceTooSmall = errors.New("disk: device too small")
	// ErrSealed: the sealed blob is empty or larger than MaxSealedSize.
	ErrSealed = errors.New("disk: bad sealed blob length")
)

// Header is a parsed data-disk header. It holds no secrets: the sealed blob
// is only usable by the TPM that sealed it.
type Header struct {
	dataOffset int64
	sealed     []byte
	kcv        [sha256.Size]byte
}

// DataOffset returns the byte offset of the encrypted data.
func (h *Header) DataOffset() int64 { return h.dataOffset }

// Sealed returns a copy of the sealed master-key blob.
func (h *Header) Sealed() []byte { return bytes.Clone(h.sealed) }

// newHeader builds a header for sealed under m.
func newHeader(sealed []byte, m *key.Master, dataOffset int64) (*Header, error) {
	if len(sealed) == 0 || len(sealed) > MaxSealedSize {
		return nil, fmt.Errorf("%w: %d bytes, want 1 to %d", ErrSealed, len(sealed), MaxSealedSize)
	}
	h := &Header{dataOffset: dataOffset, sealed: bytes.Clone(sealed)}
	kcv, err := h.keyCheck(m)
	if err != nil {
		return nil, err
	}
	h.kcv = kcv
	return h, nil
}

// fixed returns the first 32 bytes of the encoding (the part the key-check
// value covers together with the sealed blob).
func (h *Header) fixed() []byte {
	b := make([]byte, kcvOff)
	copy(b, Magic)
	binary.BigEndian.PutUint16(b[8:], Version)
	binary.BigEndian.PutUint64(b[16:], uint64(h.dataOffset))
	binary.BigEndian.PutUint16(b[24:], uint16(len(h.sealed)))
	return b
}

func (h *Header) keyCheck(m *key.Master) ([sha256.Size]byte, error) {
	var out [sha256.Size]byte
	k, err := m.Derive(LabelKeyCheck, 32)
	if err != nil {
		return out, fmt.Errorf("disk: key check: %w", err)
	}
	defer k.Destroy()
	kb, err := k.Bytes()
	if err != nil {
		return out, fmt.Errorf("disk: key check: %w", err)
	}
	mac := hmac.New(sha256.New, kb)
	mac.Write(h.fixed())
	mac.Write(h.sealed)
	mac.Sum(out[:0])
	return out, nil
}

// Verify checks the key-check value against m in constant time. It returns
// ErrKeyCheck if m is not the key the header was written with or the header
// was altered, and key.ErrDestroyed for a destroyed m.
func (h *Header) Verify(m *key.Master) error {
	want, err := h.keyCheck(m)
	if err != nil {
		return err
	}
	if !hmac.Equal(want[:], h.kcv[:]) {
		return ErrKeyCheck
	}
	return nil
}

// MarshalBinary returns the HeaderSize-byte encoding of h.
func (h *Header) MarshalBinary() ([]byte, error) {
	if len(h.sealed) == 0 || len(h.sealed) > MaxSealedSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrSealed, len(h.sealed))
	}
	b := make([]byte, HeaderSize)
	copy(b, h.fixed())
	copy(b[kcvOff:], h.kcv[:])
	copy(b[fixedSize:], h.sealed)
	end := fixedSize + len(h.sealed)
	sum := sha256.Sum256(b[:end])
	copy(b[end:], sum[:])
	return b, nil
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorruptHeader}, args...)...)
}

// ParseHeader decodes the header area b (at least HeaderSize bytes; only
// the first HeaderSize are looked at). It returns ErrNoHeader if they are
// all zero, ErrVersion for a well-formed header of another version, and
// ErrCorruptHeader for anything else that is not exactly the encoding of a
// header. It never panics and does not verify the key-check value.
func ParseHeader(b []byte) (*Header, error) {
	if len(b) < HeaderSize {
		return nil, corrupt("header area is %d bytes, want %d", len(b), HeaderSize)
	}
	b = b[:HeaderSize]
	if isZero(b) {
		return nil, ErrNoHeader
	}
	if string(b[:len(Magic)]) != Magic {
		return nil, corrupt("bad magic (not a Coffer data disk)")
	}
	if v := binary.BigEndian.Uint16(b[8:]); v != Version {
		return nil, fmt.Errorf("%w: %d (this build reads %d)", ErrVersion, v, Version)
	}
	if !isZero(b[10:16]) || !isZero(b[26:32]) {
		return nil, corrupt("reserved bytes are not zero")
	}
	off := binary.BigEndian.Uint64(b[16:])
	if off < ReservedSize || off > MaxDataOffset || off%4096 != 0 {
		return nil, corrupt("data offset %d out of range", off)
	}
	n := int(binary.BigEndian.Uint16(b[24:]))
	if n == 0 || n > MaxSealedSize {
		return nil, corrupt("sealed blob length %d out of range", n)
	}
	end := fixedSize + n
	sum := sha256.Sum256(b[:end])
	if !bytes.Equal(sum[:], b[end:end+checksumSize]) {
		return nil, corrupt("checksum mismatch")
	}
	if !isZero(b[end+checksumSize:]) {
		return nil, corrupt("padding is not zero")
	}
	h := &Header{dataOffset: int64(off), sealed: bytes.Clone(b[fixedSize:end])}
	copy(h.kcv[:], b[kcvOff:fixedSize])
	return h, nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// ReadHeader reads and parses the header of the device (or file) at path.
// Errors are as for ParseHeader, plus I/O errors (a device shorter than
// HeaderSize is ErrCorruptHeader).
func ReadHeader(path string) (*Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	defer f.Close()
	return readHeader(f)
}

func readHeader(r io.ReaderAt) (*Header, error) {
	b := make([]byte, HeaderSize)
	if _, err := r.ReadAt(b, 0); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, corrupt("device shorter than the header")
		}
		return nil, fmt.Errorf("disk: reading header: %w", err)
	}
	return ParseHeader(b)
}

// Format writes a new header holding sealed, with a key-check value for m,
// to the device (or file) at path, and fsyncs it. It refuses with
// ErrHeaderExists unless the header area is all zero, so it can never
// overwrite a disk that was formatted before (or holds foreign data). It
// does not touch the data area; Open's first-boot path calls it after
// mke2fs so that the header is written last.
func Format(path string, sealed []byte, m *key.Master) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	err = format(f, sealed, m)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("disk: %w", cerr)
	}
	return err
}

func format(f *os.File, sealed []byte, m *key.Master) error {
	h, err := newHeader(sealed, m, DefaultDataOffset)
	if err != nil {
		return err
	}
	if err := checkBlank(f); err != nil {
		return err
	}
	b, err := h.MarshalBinary()
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("disk: writing header: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("disk: syncing header: %w", err)
	}
	return nil
}

// checkBlank returns nil if f is large enough and has no header,
// ErrHeaderExists if it has anything in the header area.
func checkBlank(f *os.File) error {
	size, err := deviceSize(f)
	if err != nil {
		return err
	}
	if size < DefaultDataOffset+MinDataSize {
		return fmt.Errorf("%w: %d bytes, need at least %d", ErrDeviceTooSmall, size, DefaultDataOffset+MinDataSize)
	}
	_, err = readHeader(f)
	switch {
	case errors.Is(err, ErrNoHeader):
		return nil
	case err == nil:
		return ErrHeaderExists
	case errors.Is(err, ErrCorruptHeader), errors.Is(err, ErrVersion):
		return fmt.Errorf("%w: %w", ErrHeaderExists, err)
	default:
		return err
	}
}
