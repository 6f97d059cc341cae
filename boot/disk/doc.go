// Package disk opens Coffer's encrypted data partition: a small plaintext
// header at the start of the data disk, a dm-crypt mapping (AES-XTS, key
// derived from the master key) set up through device-mapper ioctls, an ext4
// filesystem made on first boot and mounted at /data.
//
// # On-disk layout
//
// The first ReservedSize bytes of the disk are reserved; the header lives in
// its first HeaderSize bytes and the encrypted data starts at the header's
// data offset (DefaultDataOffset for every disk this version formats).
// Integers are big-endian:
//
//	off  size  field
//	0    8     magic "COFFERD1"
//	8    2     format version (1)
//	10   6     reserved, zero
//	16   8     data offset in bytes (multiple of 4096, ≥ ReservedSize)
//	24   2     sealed blob length n (1..MaxSealedSize)
//	26   6     reserved, zero
//	32   32    key-check value: HMAC-SHA-256(K, bytes[0:32] || sealed)
//	           with K = HKDF-SHA-256(master, LabelKeyCheck, 32 bytes)
//	64   n     sealed master key (opaque, from hsm/seal)
//	64+n 32    checksum: SHA-256(bytes[0:64+n])
//	...        zero up to HeaderSize
//
// The checksum catches accidental damage (ErrCorruptHeader); the key-check
// value catches a wrong master key or a header edited with a recomputed
// checksum (ErrKeyCheck). A disk whose first HeaderSize bytes are all zero
// has no header (ErrNoHeader); anything else that does not parse is
// ErrCorruptHeader, never "empty".
//
// Rules for changing the layout: never reuse a version number; a new field
// means a new version, and ReadHeader keeps reading every version this
// package ever wrote. Reserved bytes must be zero so that every header has
// exactly one encoding.
//
// # First boot and failures
//
// Open formats only when the caller asks for it (Config.FirstBoot) and the
// header area is all zero. It sets up the mapping and runs mke2fs first and
// writes the header last, so the header is the commit point: a crash before
// it leaves a header-less disk that the next first boot formats again, a
// crash after it leaves a complete filesystem. A header that exists but is
// corrupt or fails the key check is never overwritten: Open returns the
// error and the caller (PID 1) prints it and halts.
package disk
