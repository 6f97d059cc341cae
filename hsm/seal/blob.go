package seal

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// The TPM sealer's blob. Layout (integers big-endian):
//
//	"CFTS" | format u8 (tpmFormat) |
//	4 × (length u16 | bytes): SRK Name, release key Name,
//	                          TPM2B_PUBLIC contents, TPM2B_PRIVATE contents
//
// Rules for changing it: never reuse a format number; a new field means a
// new format, and Unseal keeps reading every older format it ever wrote.
const (
	tpmMagic  = "CFTS"
	tpmFormat = 1
	// maxField bounds each field; real values are under 300 bytes.
	maxField = 1024
	// MaxBlobSize bounds the blob of every sealer in this package.
	MaxBlobSize = len(tpmMagic) + 1 + 4*(2+maxField)
)

type tpmBlob struct {
	srkName, releaseName, public, private []byte
}

func (b *tpmBlob) encode() []byte {
	out := []byte(tpmMagic)
	out = append(out, tpmFormat)
	for _, f := range [][]byte{b.srkName, b.releaseName, b.public, b.private} {
		out = binary.BigEndian.AppendUint16(out, uint16(len(f)))
		out = append(out, f...)
	}
	return out
}

// parseTPMBlob decodes a TPM blob; every error wraps ErrFormat.
func parseTPMBlob(in []byte) (*tpmBlob, error) {
	if len(in) > MaxBlobSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrFormat, len(in), MaxBlobSize)
	}
	if len(in) < len(tpmMagic)+1 || string(in[:len(tpmMagic)]) != tpmMagic {
		return nil, fmt.Errorf("%w: not a TPM-sealed master key", ErrFormat)
	}
	if in[len(tpmMagic)] != tpmFormat {
		return nil, fmt.Errorf("%w: unknown TPM blob format %d", ErrFormat, in[len(tpmMagic)])
	}
	rest := in[len(tpmMagic)+1:]
	var fields [4][]byte
	for i := range fields {
		if len(rest) < 2 {
			return nil, fmt.Errorf("%w: truncated", ErrFormat)
		}
		n := int(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
		if n == 0 || n > maxField || n > len(rest) {
			return nil, fmt.Errorf("%w: field %d has bad length %d", ErrFormat, i, n)
		}
		fields[i] = bytes.Clone(rest[:n])
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrFormat, len(rest))
	}
	return &tpmBlob{srkName: fields[0], releaseName: fields[1], public: fields[2], private: fields[3]}, nil
}
