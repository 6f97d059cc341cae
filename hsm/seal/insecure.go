package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/cofferhsm/coffer/hsm/key"
)

// InsecureFile is the development sealer: it encrypts the master key with
// AES-256-GCM under a wrapping key kept in a plain file. Anyone who can
// read that file and the blob has the master key; nothing binds it to the
// boot state. It exists so that `coffer serve` runs where there is no TPM,
// and it says so: Name reports INSECURE and every use logs a warning.
//
// Blob layout: "CFIF" | format u8 (1) | key id [8] | nonce [12] |
// AES-256-GCM(master key) [48], the first 13 bytes as associated data. The
// key id is the first 8 bytes of SHA-256 of the wrapping key.
type InsecureFile struct {
	path string
	kek  []byte
	id   []byte
	cfg  Config
}

var _ Sealer = (*InsecureFile)(nil)

const (
	insecureMagic  = "CFIF"
	insecureFormat = 1
	kekSize        = 32
	keyIDSize      = 8
	nonceSize      = 12
	insecureHead   = len(insecureMagic) + 1 + keyIDSize
	insecureSize   = insecureHead + nonceSize + key.MasterSize + 16
)

// NewInsecureFile opens the wrapping key at path, creating it (mode 0600,
// random bytes from cfg.Rand) when the file does not exist. An existing
// file of the wrong size is refused with ErrCorrupt.
func NewInsecureFile(path string, cfg Config) (*InsecureFile, error) {
	kek, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		kek, err = createKEK(path, cfg.rand())
	}
	if err != nil {
		return nil, fmt.Errorf("seal: insecure key file: %w", err)
	}
	if len(kek) != kekSize {
		key.Zero(kek)
		return nil, fmt.Errorf("%w: insecure key file %s is %d bytes, want %d", ErrCorrupt, path, len(kek), kekSize)
	}
	sum := sha256.Sum256(kek)
	s := &InsecureFile{path: path, kek: kek, id: sum[:keyIDSize], cfg: cfg}
	s.warn("opened")
	return s, nil
}

func createKEK(path string, rand io.Reader) ([]byte, error) {
	kek := make([]byte, kekSize)
	if _, err := io.ReadFull(rand, kek); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	_, err = f.Write(kek)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	return kek, nil
}

func (s *InsecureFile) warn(op string) {
	s.cfg.logger().Warn("seal: INSECURE file sealer in use: the master key is NOT protected by a TPM; for development only",
		"op", op, "keyfile", s.path)
}

// Name returns "INSECURE-file:" and the key file path.
func (s *InsecureFile) Name() string { return "INSECURE-file:" + s.path }

func (s *InsecureFile) aead() (cipher.AEAD, error) {
	if s.kek == nil {
		return nil, errors.New("seal: insecure sealer is closed")
	}
	b, err := aes.NewCipher(s.kek)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Seal encrypts m under the wrapping key.
func (s *InsecureFile) Seal(m *key.Master) ([]byte, error) {
	s.warn("seal")
	secret, err := m.Bytes()
	if err != nil {
		return nil, err
	}
	aead, err := s.aead()
	if err != nil {
		return nil, err
	}
	out := make([]byte, insecureHead+nonceSize, insecureSize)
	copy(out, insecureMagic)
	out[len(insecureMagic)] = insecureFormat
	copy(out[len(insecureMagic)+1:], s.id)
	if _, err := io.ReadFull(s.cfg.rand(), out[insecureHead:]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return aead.Seal(out, out[insecureHead:], secret, out[:insecureHead]), nil
}

// Unseal decrypts a blob made by Seal: ErrFormat for a malformed blob,
// ErrWrongTPM when it was sealed under another key file, ErrCorrupt when it
// fails authentication.
func (s *InsecureFile) Unseal(blob []byte) (*key.Master, error) {
	s.warn("unseal")
	if len(blob) < len(insecureMagic)+1 || string(blob[:len(insecureMagic)]) != insecureMagic {
		return nil, fmt.Errorf("%w: not an insecure-file sealed master key", ErrFormat)
	}
	if blob[len(insecureMagic)] != insecureFormat {
		return nil, fmt.Errorf("%w: unknown insecure-file format %d", ErrFormat, blob[len(insecureMagic)])
	}
	if len(blob) != insecureSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrFormat, len(blob), insecureSize)
	}
	if !bytes.Equal(blob[len(insecureMagic)+1:insecureHead], s.id) {
		return nil, fmt.Errorf("%w: sealed under a different insecure key file than %s", ErrWrongTPM, s.path)
	}
	aead, err := s.aead()
	if err != nil {
		return nil, err
	}
	secret, err := aead.Open(nil, blob[insecureHead:insecureHead+nonceSize], blob[insecureHead+nonceSize:], blob[:insecureHead])
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", ErrCorrupt)
	}
	defer key.Zero(secret)
	return key.NewMaster(secret)
}

// Close zeroizes the wrapping key.
func (s *InsecureFile) Close() error {
	key.Zero(s.kek)
	s.kek = nil
	return nil
}
