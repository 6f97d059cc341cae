package object

import "errors"

// Sentinel errors. Every error returned by this package and by package hsm
// wraps exactly one of them; check with errors.Is. The KMIP 1.1 result
// reason a server should answer is given for each.
var (
	// ErrNotFound: no such object, or no such attribute instance (Item Not Found).
	ErrNotFound = errors.New("object not found")
	// ErrPermission: the caller may not do this, e.g. set a server-only
	// attribute (Permission Denied).
	ErrPermission = errors.New("permission denied")
	// ErrWrongState: the operation is not allowed in the object's
	// lifecycle state, e.g. Destroy of an Active key (KMIP 1.1 has no
	// Wrong Key Lifecycle State reason: answer Permission Denied).
	ErrWrongState = errors.New("wrong lifecycle state")
	// ErrInvalid: a malformed or out-of-range value or field (Invalid Field).
	ErrInvalid = errors.New("invalid field")
	// ErrIllegal: the request is well-formed but not allowed as such, e.g.
	// adding a second instance of a single-instance attribute (Illegal Operation).
	ErrIllegal = errors.New("illegal operation")
	// ErrNotSupported: an object type, algorithm or attribute Coffer does
	// not implement (Feature Not Supported / Invalid Field).
	ErrNotSupported = errors.New("not supported")
	// ErrCorrupt: a stored record failed authentication or decoding. Its
	// content is never returned (General Failure; alert the operator).
	ErrCorrupt = errors.New("corrupt record")
)
