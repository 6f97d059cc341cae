package server

import (
	"crypto/tls"
	"fmt"
)

// Profile names a set of TLS versions and cipher suites.
type Profile string

const (
	// ProfileVSphereCompat (the default) allows TLS 1.2 and 1.3. For TLS
	// 1.2 it enables the ECDHE-GCM suites and, for VMware vCenter, the RSA
	// key-exchange suites TLS_RSA_WITH_AES_128_CBC_SHA256,
	// TLS_RSA_WITH_AES_128_GCM_SHA256 and TLS_RSA_WITH_AES_256_GCM_SHA384
	// (vCenter 7.0.3 was seen negotiating the CBC one). crypto/tls prefers
	// the ECDHE suites over RSA key exchange and AEAD over CBC, so a client
	// that offers an ECDHE-GCM suite gets one. Go leaves the RSA suites out
	// of its defaults, but enables them when listed explicitly in
	// tls.Config.CipherSuites, as done here: no GODEBUG setting is needed.
	ProfileVSphereCompat Profile = "vsphere-compat"
	// ProfileStrict allows TLS 1.3, and TLS 1.2 with the ECDHE-GCM suites
	// only (forward secrecy and AEAD). The TLS 1.3 suites are chosen by
	// crypto/tls and are not configurable (AES-GCM and ChaCha20-Poly1305).
	ProfileStrict Profile = "strict"
)

var ecdheGCMSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
}

var vsphereRSASuites = []uint16{
	tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
}

// CipherSuites returns the TLS 1.2 cipher suites of the profile, ECDHE
// first, or an error for an unknown profile. An empty profile is
// ProfileVSphereCompat.
func (p Profile) CipherSuites() ([]uint16, error) {
	switch p {
	case "", ProfileVSphereCompat:
		return append(append([]uint16(nil), ecdheGCMSuites...), vsphereRSASuites...), nil
	case ProfileStrict:
		return append([]uint16(nil), ecdheGCMSuites...), nil
	}
	return nil, fmt.Errorf("server: unknown TLS profile %q (want %q or %q)", string(p), ProfileVSphereCompat, ProfileStrict)
}

// tlsConfig builds the server's TLS configuration. Client certificates are
// requested but not verified by crypto/tls (which still checks the
// client's proof of possession of the key); the server verifies them after
// the handshake with Config.Identifier, so that clients without a trusted
// certificate complete the handshake and are refused afterwards.
func tlsConfig(cfg *Config) (*tls.Config, error) {
	suites, err := cfg.Profile.CipherSuites()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{*cfg.Certificate},
		ClientAuth:   tls.RequestClientCert,
		MinVersion:   tls.VersionTLS12,
		MaxVersion:   tls.VersionTLS13,
		CipherSuites: suites,
		Time:         cfg.Now,
		Rand:         cfg.Rand,
		// Every connection does a full handshake, so that every
		// connection presents its certificate and is identified afresh.
		SessionTicketsDisabled: true,
	}, nil
}
