package admin

import (
	"errors"
	"fmt"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrMarshal is returned by the Marshal methods of EnrollmentToken.
	ErrMarshal = errors.New("admin: secret values cannot be marshalled")
	// ErrEnrolled: an admin is already enrolled, so no enrollment token
	// is made (InitEnrollment).
	ErrEnrolled = errors.New("admin: an admin is already enrolled")
	// ErrBadToken: the enrollment token is wrong, malformed, or was
	// already used.
	ErrBadToken = errors.New("admin: invalid enrollment token")
	// ErrRateLimited: too many failed enrollment attempts; retry later.
	ErrRateLimited = errors.New("admin: too many failed enrollment attempts")
	// ErrAdminExists: an admin of that name is already enrolled.
	ErrAdminExists = errors.New("admin: admin already exists")
	// ErrNoCert: a request needing an admin certificate came without a
	// client certificate.
	ErrNoCert = errors.New("admin: no client certificate")
	// ErrNotAdmin: the client certificate is not an enrolled, valid admin
	// certificate (KMIP app certificates included).
	ErrNotAdmin = errors.New("admin: client certificate is not an admin certificate")
	// ErrCorrupt: a file of the admin state is malformed or has unsafe
	// permissions.
	ErrCorrupt = errors.New("admin: admin files are corrupt")
	// ErrBadConfig: a Config or client argument is missing or invalid.
	ErrBadConfig = errors.New("admin: invalid configuration")
	// ErrCAMismatch: the appliance presented no CA certificate with the
	// expected fingerprint during enrollment.
	ErrCAMismatch = errors.New("admin: appliance CA fingerprint does not match")
	// ErrExists: an output file already exists; the client never
	// overwrites credentials.
	ErrExists = errors.New("admin: output file already exists")
	// ErrBadResponse: the appliance sent a response the client cannot use.
	ErrBadResponse = errors.New("admin: malformed response from appliance")
)

// APIError is an error response of the admin API as seen by the Client.
type APIError struct {
	StatusCode int    // HTTP status
	Message    string // the server's "error" text
}

func (e *APIError) Error() string {
	return fmt.Sprintf("admin: appliance answered %d: %s", e.StatusCode, e.Message)
}
