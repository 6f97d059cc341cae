// Package kmip is the KMIP 1.1 message model: tags, enumerations, request and
// response messages, batch items, typed operation payloads, attributes and
// managed objects, decoded from and encoded to TTLV (package kmip/ttlv).
//
// Decoding is strict: fields are read in specification order, and an unknown,
// duplicated, misplaced or mistyped field, or a missing required one, is an
// error of type *Error carrying the Result Reason a server should answer with
// (usually Invalid Message or Invalid Field). Nothing is silently dropped, so a
// message that parses re-encodes to the same bytes.
//
// Key material is carried as []byte fields. This package never logs or prints
// it; zeroing it after use is the caller's responsibility.
//
// The tag and enumeration tables (tags_gen.go, enums_gen.go) are generated
// from the KMIP 1.1 specification tables and internal/gen/additions.json.
package kmip

//go:generate go run ./internal/gen
