package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/auth"
	"github.com/cofferhsm/coffer/kmip"
)

// PasswordChecker verifies the optional password of an app; *auth.Authority
// implements it.
type PasswordChecker interface {
	// HasPassword reports whether the app has a password configured. An
	// error refuses the request.
	HasPassword(app string) (bool, error)
	// CheckPassword returns nil when password is the app's password.
	CheckPassword(app, password string) error
}

var _ PasswordChecker = (*auth.Authority)(nil)

// OpsConfig configures Ops. Core is required.
type OpsConfig struct {
	// Core performs the operations.
	Core hsm.API
	// Logger receives one line per batch item. Nil means slog.Default().
	Logger *slog.Logger
	// Now returns the current time (response Time Stamp). Nil means time.Now.
	Now func() time.Time
	// Passwords verifies request-header credentials. Nil means they are
	// ignored and the certificate alone authenticates.
	Passwords PasswordChecker
	// Versions lists the protocol versions Discover Versions offers, in
	// preference order. Nil means 1.4, 1.3, 1.2, 1.1, 1.0. Versions
	// outside 1.0–1.4 are not accepted.
	Versions []kmip.ProtocolVersion
	// VendorIdentification is answered to Query Server Information. Empty
	// means "Coffer".
	VendorIdentification string
	// LeaseTime is granted by Obtain Lease to objects without a Lease Time
	// attribute. Zero grants a lease of 0 seconds: Coffer does not track
	// leases, so by default it promises nothing beyond the request.
	LeaseTime time.Duration
}

// Ops is the KMIP operation layer: it implements Handler and Refuser over
// an hsm.API. It is safe for concurrent use. Contract:
//
//   - Every request gets a response message, also one that cannot be
//     parsed at all (one failed batch item without Operation, Result
//     Reason Invalid Message). Protocol versions 1.0 to 1.4 are accepted
//     and echoed in the response header; a later 1.x minor is answered
//     as 1.4; another major version is refused with Invalid Message.
//   - A batch item that does not parse fails alone, with its Operation and
//     Unique Batch Item ID echoed when they could be read; Unique Batch
//     Item IDs are always echoed.
//   - Batch items run in order. Batch Error Continuation Option Stop (the
//     default) returns the items up to and including the first failure;
//     Continue runs every item; Undo is accepted for one-item batches
//     (where it means Stop) and refused with Feature Not Supported for
//     larger ones, before anything runs: the core cannot roll back.
//   - ID Placeholder: Create, Create Key Pair (the private key), Register,
//     Re-key, Re-key Key Pair (the new private key) and Locate (when it
//     finds exactly one object) set it; an item without Unique Identifier
//     uses it; without one it fails with Invalid Field (TC 15.2).
//   - A Message Extension with Criticality Indicator True fails its item
//     with Feature Not Supported (no extension is recognized); a
//     non-critical one is ignored.
//   - Asynchronous Indicator True: this server never answers Pending; every
//     item fails with Feature Not Supported and nothing runs.
//   - Maximum Response Size: a response larger than it is replaced by one
//     batch item without Operation, Result Reason Response Too Large (the
//     operations have run).
//   - Authentication: the identity is peer.App (the certificate), narrowed
//     by a header credential as described below. Objects are visible and
//     usable by their owner only (package hsm: owner or same group);
//     others get Permission Denied and Locate does not find them.
//     With OpsConfig.Passwords set, a Username and Password credential in
//     the request header must name the app and carry its password, and it
//     is required when the app has a password; any other credential, or
//     one that does not verify, fails every item with Authentication Not
//     Successful. Without OpsConfig.Passwords credentials are not
//     verified, but a Username and Password or Device credential narrows
//     the identity to a user within the app ("app user:NAME", "app
//     device:SERIAL/…"): it owns what it creates and, by the core's access
//     policy (package hsm), cannot use the app's or other users' objects
//     (OASIS test cases 11.1, 11.2). This separates tenants of one app; it
//     is not authentication, since any holder of the app's certificate may
//     present any username.
//   - Operations a KMIP 1.1 server may leave out (Archive, Recover, Poll,
//     Cancel, Certify, Re-certify, Validate, Derive Key) and server-to-
//     client ones (Notify, Put) answer Operation Not Supported.
//   - Errors map to results in one place (resultOf); unclassified errors
//     are General Failure "internal error" with the detail in the log only.
//     One log line per batch item: app, operation, UID, result, latency;
//     never key material.
type Ops struct {
	core      hsm.API
	log       *slog.Logger
	now       func() time.Time
	passwords PasswordChecker
	versions  []kmip.ProtocolVersion
	vendor    string
	lease     time.Duration
}

var (
	_ Handler = (*Ops)(nil)
	_ Refuser = (*Ops)(nil)
)

// NewOps returns an Ops for cfg.
func NewOps(cfg OpsConfig) (*Ops, error) {
	if cfg.Core == nil {
		return nil, errors.New("server: OpsConfig.Core is required")
	}
	o := &Ops{core: cfg.Core, log: cfg.Logger, now: cfg.Now, passwords: cfg.Passwords,
		vendor: cfg.VendorIdentification, lease: cfg.LeaseTime}
	if o.log == nil {
		o.log = slog.Default()
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.vendor == "" {
		o.vendor = "Coffer"
	}
	if o.lease < 0 || o.lease%time.Second != 0 || o.lease > (1<<32-1)*time.Second {
		return nil, fmt.Errorf("server: OpsConfig.LeaseTime %v is not whole seconds in range", o.lease)
	}
	if cfg.Versions == nil {
		o.versions = []kmip.ProtocolVersion{{Major: 1, Minor: 4}, {Major: 1, Minor: 3}, {Major: 1, Minor: 2}, {Major: 1, Minor: 1}, {Major: 1, Minor: 0}}
	} else {
		for _, v := range cfg.Versions {
			if v.Major != 1 || v.Minor < 0 || v.Minor > maxMinor {
				return nil, fmt.Errorf("server: protocol version %s is not supported", v)
			}
		}
		o.versions = append([]kmip.ProtocolVersion(nil), cfg.Versions...)
	}
	return o, nil
}

// maxMinor is the highest KMIP 1.x minor version this layer answers.
const maxMinor = 4

// Handle answers one request message (see the contract above).
func (o *Ops) Handle(ctx context.Context, peer Peer, request []byte) []byte {
	return o.serve(ctx, peer, request, nil)
}

// Refuse answers the first request of an unauthenticated connection: every
// batch item fails with Authentication Not Successful and nothing runs.
// err is logged, never sent.
func (o *Ops) Refuse(ctx context.Context, peer Peer, request []byte, err error) []byte {
	return o.serve(ctx, peer, request, err)
}
