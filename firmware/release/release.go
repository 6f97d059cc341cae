// Package release ties an appliance image to its signed boot policy: it
// defines the image measurement that PID 1 extends into the boot PCR, the
// paths of the policy and the release public key inside the initramfs, and
// the release signing key helpers the image builder uses.
//
// # Measurement
//
// The measurement is SHA-256 over a canonical listing of the initramfs
// content, computed the same way by the image builder (from the archive
// records, Digest) and by PID 1 (from the unpacked root file system,
// MeasureDir):
//
//	"coffer-measure-v1\n"
//	for each entry, sorted by path (bytes), one line:
//	  <kind> <sha256 hex> <path>\n
//	kind "f": regular file, hash of its content
//	kind "l": symbolic link, hash of its target
//
// Paths are relative to the root, slash-separated, without a leading "./".
// Directories and device nodes carry no content and are not listed. The
// signed policy itself (PolicyPath) is excluded, which breaks the
// circularity of a policy that must name the measurement of the image it
// lives in; the release public key (ReleaseKeyPath) is measured. Trees
// where the kernel mounts file systems at boot (SkipDirs) are not walked.
//
// Because every file of the initramfs is measured — /init, hsmd, kmipd,
// the kernel modules, mke2fs and its libraries, the release key — a
// changed, added or removed file changes the boot PCR, and the TPM refuses
// to unseal the master key under the signed policy.
//
// # Boot policy
//
// Under SeaBIOS direct kernel boot (QEMU) the firmware measures neither
// kernel nor initramfs, so the policy covers only PCR 11 (seal
// DefaultBootPCR) = PredictPCR(measurement). Images for hardware/OVMF add
// the firmware PCRs 0, 2, 4, 7 and 9 (seal.DefaultPCRs); QEMUPCRs is the
// QEMU set.
//
// # Release key
//
// The development release key (ECDSA P-256, PKCS#8 PEM) is generated once
// and kept outside git, by default in the image cache directory
// (LoadOrCreateKey); a real release pipeline keeps it offline.
package release

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cofferhsm/coffer/hsm/seal"
)

// Paths inside the initramfs (relative to its root).
const (
	PolicyPath     = "etc/coffer/policy"
	ReleaseKeyPath = "etc/coffer/release.pub"
)

// PolicyVersion is the security version of the policies this tree signs.
const PolicyVersion = 1

// SkipDirs are top-level directories MeasureDir does not walk: the kernel
// and PID 1 mount file systems there.
var SkipDirs = []string{"data", "dev", "proc", "run", "sys", "tmp"}

// QEMUPCRs is the PCR set of images booted by SeaBIOS direct kernel boot.
var QEMUPCRs = []int{seal.DefaultBootPCR}

// maxLinkTarget bounds a symbolic link target.
const maxLinkTarget = 4096

// Errors.
var (
	// ErrEntry: an entry with an invalid path or kind.
	ErrEntry = errors.New("release: invalid measurement entry")
	// ErrKey: a release key that is missing, malformed or not ECDSA P-256.
	ErrKey = errors.New("release: invalid release key")
)

// Kind is the type of a measured entry.
type Kind byte

// Entry kinds.
const (
	File    Kind = 'f'
	Symlink Kind = 'l'
)

// Entry is one measured file: its path, kind and content hash.
type Entry struct {
	Path string
	Kind Kind
	Sum  [sha256.Size]byte
}

// NewEntry returns the entry of a file or symlink with content b (for a
// symlink: its target).
func NewEntry(p string, k Kind, b []byte) Entry {
	return Entry{Path: strings.TrimPrefix(path.Clean("/"+p), "/"), Kind: k, Sum: sha256.Sum256(b)}
}

// Excluded reports whether path p (relative, slash-separated) is left out
// of the measurement.
func Excluded(p string) bool {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == PolicyPath {
		return true
	}
	top, _, _ := strings.Cut(p, "/")
	return slices.Contains(SkipDirs, top)
}

// Digest returns the measurement of entries (in any order). Excluded
// entries are dropped. Duplicate paths, empty paths and unknown kinds are
// ErrEntry.
func Digest(entries []Entry) ([sha256.Size]byte, error) {
	es := slices.Clone(entries)
	es = slices.DeleteFunc(es, func(e Entry) bool { return Excluded(e.Path) })
	slices.SortFunc(es, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	h := sha256.New()
	io.WriteString(h, "coffer-measure-v1\n")
	for i, e := range es {
		if e.Path == "" || e.Path == "." || strings.ContainsAny(e.Path, "\n\x00") || (e.Kind != File && e.Kind != Symlink) {
			return [32]byte{}, fmt.Errorf("%w: %q", ErrEntry, e.Path)
		}
		if i > 0 && es[i-1].Path == e.Path {
			return [32]byte{}, fmt.Errorf("%w: duplicate %q", ErrEntry, e.Path)
		}
		fmt.Fprintf(h, "%c %s %s\n", e.Kind, hex.EncodeToString(e.Sum[:]), e.Path)
	}
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d, nil
}

// MeasureDir walks the file system at root (PID 1: "/") and returns the
// measurement of its regular files and symbolic links, skipping SkipDirs
// and PolicyPath. Other file types are ignored.
func MeasureDir(root string) ([sha256.Size]byte, error) {
	var entries []Entry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if Excluded(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch t := d.Type(); {
		case t.IsRegular():
			e, err := hashFile(p, rel)
			if err != nil {
				return err
			}
			entries = append(entries, e)
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if len(target) > maxLinkTarget {
				return fmt.Errorf("%w: link %s too long", ErrEntry, rel)
			}
			entries = append(entries, NewEntry(rel, Symlink, []byte(target)))
		}
		return nil
	})
	if err != nil {
		return [32]byte{}, fmt.Errorf("release: measuring %s: %w", root, err)
	}
	return Digest(entries)
}

func hashFile(p, rel string) (Entry, error) {
	f, err := os.Open(p)
	if err != nil {
		return Entry{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return Entry{}, err
	}
	e := Entry{Path: rel, Kind: File}
	h.Sum(e.Sum[:0])
	return e, nil
}

// SignPolicy signs the boot policy of an image with the given measurement:
// PolicyVersion, the default rollback counter and PCR 11 =
// seal.PredictPCR(measurement).
func SignPolicy(rnd io.Reader, key *ecdsa.PrivateKey, measurement []byte) ([]byte, error) {
	return seal.SignPolicy(rnd, key, seal.Policy{
		Version: PolicyVersion,
		PCRs:    []seal.PCRValue{{Index: seal.DefaultBootPCR, Value: seal.PredictPCR(measurement)}},
	})
}

// LoadOrCreateKey reads the release private key (PKCS#8 PEM) at path, or
// generates one and writes it (0600, directory 0700) when the file does
// not exist.
func LoadOrCreateKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("release: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("release: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("release: %w", err)
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, fmt.Errorf("release: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, fmt.Errorf("release: %w", err)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: %s: no PRIVATE KEY block", ErrKey, path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKey, path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: %s: not ECDSA P-256", ErrKey, path)
	}
	return ek, nil
}

// MarshalPublicKey returns the PEM (PKIX) encoding of a release public key.
func MarshalPublicKey(k *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKey parses a PEM release public key (ECDSA P-256 only).
func ParsePublicKey(b []byte) (*ecdsa.PublicKey, error) {
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" || len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: want one PUBLIC KEY PEM block", ErrKey)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	ek, ok := k.(*ecdsa.PublicKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: not ECDSA P-256", ErrKey)
	}
	return ek, nil
}

// KeyFingerprint returns the SHA-256 (hex) of the PKIX encoding of k.
func KeyFingerprint(k *ecdsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return ""
	}
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}
