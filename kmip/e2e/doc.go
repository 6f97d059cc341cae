// Package e2e holds Coffer's end-to-end tests and benchmarks: the real
// host-mode server (internal/hostmode, the code `coffer serve` runs) on
// 127.0.0.1 over mutual TLS, driven by the OASIS KMIP 1.1 conformance
// cases (kmip/kmiptest), the Go client (kmip/client), PyKMIP's client
// (Debian python3-pykmip) and a replay of vCenter's conversation
// (../shared/kmip/VCENTER.md). The benchmarks measure Get, Create and
// vCenter-style flows against Coffer and, in the same run, against
// PyKMIP's server. The package has no non-test code.
package e2e
