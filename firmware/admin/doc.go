// Package admin is the appliance's administration API: a small JSON API
// over HTTPS (port 8443 on the appliance) and the client library the
// coffer CLI uses to drive it.
//
// # Trust
//
// The server presents the same certificate as the KMIP listener, issued by
// the appliance CA of hsm/auth. Clients never trust it on first use: the
// first contact (enrollment) requires the SHA-256 fingerprint of the
// appliance CA certificate, which the console prints next to the
// enrollment token (see CAFingerprint); afterwards the client trusts the
// ca.crt it saved.
//
// # Enrollment
//
// On first boot the appliance makes a one-time enrollment token
// (InitEnrollment), prints it on the console and keeps only its SHA-256
// hash. POST /v1/enroll {"token","name"} needs no client certificate: it
// checks the token in constant time, consumes it, and returns an admin
// client certificate and private key (ECDSA P-256, PEM) signed by the
// appliance CA, plus ca.crt. Failed attempts are rate limited (see
// Config.EnrollAttempts).
//
// # Admins versus KMIP apps
//
// An admin certificate is recorded in this package's admin registry, never
// in the hsm/auth app registry, so hsm/auth.Identify refuses it on the KMIP
// port; and a KMIP app certificate is not in the admin registry, so the
// admin API refuses it (403). The trust endpoint refuses to pin an admin
// certificate as an app. hsm/auth has no notion of roles; it issues the
// admin certificate (Authority.IssueClientCert) without recording it, and
// the CA key never leaves hsm/auth.
//
// # API
//
// Every request other than enrollment needs an enrolled admin client
// certificate (401 without a certificate, 403 with an unknown one).
// Requests with a body must be Content-Type application/json (which keeps
// browsers holding an admin certificate from being used for cross-site
// requests), at most MaxBodyBytes, one JSON object without unknown fields.
// Errors are {"error": "..."} with a 4xx/5xx status; internal error detail
// is logged, never sent.
//
//	POST /v1/enroll             {token, name} -> EnrollResponse
//	GET  /v1/status             -> Status
//	GET  /v1/apps               -> {apps: [name...]}
//	POST /v1/apps               {name} -> Bundle (client.crt, client.key, ca.crt)
//	POST /v1/apps/{name}/csr    {csr} -> {cert, ca}
//	POST /v1/apps/{name}/trust  {cert, any_eku} -> {name, sha256}
//
// # Files
//
// The server keeps its state in Config.Dir (0700 directory, 0600 files):
//
//	enroll-token            SHA-256 (hex) of the unused enrollment token
//	enroll-token.claimed    transient, while an enrollment is in progress
//	admins/NAME.json        one record per admin (certificate fingerprint)
//
// The admin registry is owned by one Server process at a time.
package admin
