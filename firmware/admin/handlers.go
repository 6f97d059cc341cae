package admin

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/cofferhsm/coffer/hsm/auth"
)

// Wire types of the API (JSON). PEM values are strings.
type (
	enrollRequest struct {
		Token string `json:"token"`
		Name  string `json:"name"`
	}
	enrollResponse struct {
		Name string `json:"name"`
		Cert string `json:"cert"` // admin.crt
		Key  string `json:"key"`  // admin.key (PKCS#8)
		CA   string `json:"ca"`   // ca.crt
	}
	createAppRequest struct {
		Name string `json:"name"`
	}
	bundleResponse struct {
		Name       string `json:"name"`
		ClientCert string `json:"client_crt"`
		ClientKey  string `json:"client_key"`
		CACert     string `json:"ca_crt"`
	}
	csrRequest struct {
		CSR string `json:"csr"`
	}
	csrResponse struct {
		Name string `json:"name"`
		Cert string `json:"cert"`
		CA   string `json:"ca"`
	}
	trustRequest struct {
		Cert   string `json:"cert"`
		AnyEKU bool   `json:"any_eku,omitempty"`
	}
	trustResponse struct {
		Name   string `json:"name"`
		SHA256 string `json:"sha256"`
	}
	appsResponse struct {
		Apps []string `json:"apps"`
	}
	errorResponse struct {
		Error string `json:"error"`
	}
)

// Status is the answer of GET /v1/status.
type Status struct {
	Version       string `json:"version"`
	UptimeSeconds int64  `json:"uptime_seconds"`
	Apps          int    `json:"apps"`
	Admins        int    `json:"admins"`
	CASHA256      string `json:"ca_sha256"` // fingerprint of the appliance CA
}

// requestError is a client mistake with its HTTP status and public text.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/enroll", s.handleEnroll)
	mux.HandleFunc("GET /v1/status", s.admin(s.handleStatus))
	mux.HandleFunc("GET /v1/apps", s.admin(s.handleListApps))
	mux.HandleFunc("POST /v1/apps", s.admin(s.handleCreateApp))
	mux.HandleFunc("POST /v1/apps/{name}/csr", s.admin(s.handleSignCSR))
	mux.HandleFunc("POST /v1/apps/{name}/trust", s.admin(s.handleTrust))
	// Same paths with other methods: JSON 405 instead of the mux's text.
	for _, p := range []string{"/v1/enroll", "/v1/status", "/v1/apps", "/v1/apps/{name}/csr", "/v1/apps/{name}/trust"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusMethodNotAllowed, errorResponse{"method not allowed"})
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorResponse{"not found"})
	})
	return s.logged(mux)
}

// statusWriter remembers the status code for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// logged logs one line per request: method, path, remote address, status.
// Bodies (tokens, keys) are never logged.
func (s *Server) logged(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		s.cfg.Log.Info("admin request", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "status", sw.status)
	})
}

// admin wraps a handler that requires an admin client certificate.
func (s *Server) admin(h func(w http.ResponseWriter, r *http.Request, admin string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name, err := s.authenticate(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		h(w, r, name)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
	clear(b) // responses may carry private keys
}

// fail answers err as {"error": ...} with its status. Errors of this and
// the auth package that describe bad input are sent as they are; anything
// else is logged and answered "internal error".
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var re *requestError
	status, msg := http.StatusInternalServerError, "internal error"
	switch {
	case errors.As(err, &re):
		status, msg = re.status, re.msg
	case errors.Is(err, ErrNoCert):
		status, msg = http.StatusUnauthorized, "an admin client certificate is required"
	case errors.Is(err, ErrNotAdmin):
		status, msg = http.StatusForbidden, "the client certificate is not an enrolled admin certificate"
		s.cfg.Log.Warn("admin: refused client certificate", "remote", r.RemoteAddr, "err", err)
	case errors.Is(err, ErrBadToken):
		status, msg = http.StatusForbidden, "invalid or already used enrollment token"
	case errors.Is(err, ErrRateLimited):
		status, msg = http.StatusTooManyRequests, "too many failed enrollment attempts; retry later"
	case errors.Is(err, ErrAdminExists):
		status, msg = http.StatusConflict, err.Error()
	case errors.Is(err, auth.ErrBadName), errors.Is(err, auth.ErrBadCSR), errors.Is(err, auth.ErrBadCert):
		status, msg = http.StatusBadRequest, err.Error()
	case errors.Is(err, auth.ErrNoApp):
		status, msg = http.StatusNotFound, err.Error()
	case errors.Is(err, auth.ErrAppExists), errors.Is(err, auth.ErrCertInUse), errors.Is(err, auth.ErrTooManyCerts):
		status, msg = http.StatusConflict, err.Error()
	default:
		s.cfg.Log.Error("admin: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, errorResponse{msg})
}

// decodeBody decodes a JSON request body of at most MaxBodyBytes into v:
// Content-Type application/json, one object, no unknown fields, nothing
// after it.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &requestError{http.StatusUnsupportedMediaType, "Content-Type must be application/json"}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil {
		if err = dec.Decode(&struct{}{}); err == io.EOF {
			return nil
		} else if err == nil {
			err = errors.New("trailing data")
		}
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return &requestError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", MaxBodyBytes)}
	}
	return badRequest("malformed JSON request")
}

func checkName(name string) error {
	if !auth.ValidName(name) {
		return badRequest("invalid name %q: want 1-%d characters of A-Z a-z 0-9 . _ -, not starting with '.'", truncate(name, auth.MaxNameLen+1), auth.MaxNameLen)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func (s *Server) handleEnroll(w http.ResponseWriter, r *http.Request) {
	var req enrollRequest
	if err := decodeBody(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := checkName(req.Name); err != nil {
		s.fail(w, r, err)
		return
	}
	resp, retry, err := s.enroll(req.Token, req.Name)
	if err != nil {
		if errors.Is(err, ErrRateLimited) {
			w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds())+1))
		}
		if errors.Is(err, ErrBadToken) || errors.Is(err, ErrRateLimited) {
			s.cfg.Log.Warn("admin: enrollment refused", "remote", r.RemoteAddr, "reason", err.Error())
		}
		s.fail(w, r, err)
		return
	}
	s.cfg.Log.Info("admin: enrolled admin", "admin", req.Name, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, resp)
}

// enroll checks and consumes the token and enrolls the admin name. On
// ErrRateLimited it also returns how long to wait.
func (s *Server) enroll(token, name string) (*enrollResponse, time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	if limited, retry := s.limitedLocked(now); limited {
		return nil, retry, ErrRateLimited
	}
	if err := checkToken(s.cfg.Dir, token); err != nil {
		if errors.Is(err, ErrBadToken) {
			s.failLocked(now)
		}
		return nil, 0, err
	}
	for _, n := range s.admins {
		if n == name {
			return nil, 0, fmt.Errorf("%w: %q", ErrAdminExists, name)
		}
	}
	release, consume, err := claimToken(s.cfg.Dir)
	if err != nil {
		return nil, 0, err
	}
	cert, certPEM, keyPEM, err := issueAdminCert(s.auth, name)
	if err == nil {
		err = writeAdmin(s.cfg.Dir, &adminRecord{
			Version:  adminRecordVersion,
			Name:     name,
			SHA256:   auth.FingerprintOf(cert).String(),
			NotAfter: cert.NotAfter.UTC(),
			Enrolled: now.UTC(),
		})
	}
	if err != nil {
		release()
		return nil, 0, err
	}
	consume()
	s.admins[auth.FingerprintOf(cert)] = name
	resp := &enrollResponse{Name: name, Cert: string(certPEM), Key: string(keyPEM), CA: string(s.auth.CACertPEM())}
	clear(keyPEM)
	return resp, 0, nil
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request, _ string) {
	apps, err := s.auth.Apps()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.mu.Lock()
	admins := len(s.admins)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, Status{
		Version:       s.cfg.Version,
		UptimeSeconds: int64(s.cfg.Now().Sub(s.started) / time.Second),
		Apps:          len(apps),
		Admins:        admins,
		CASHA256:      CAFingerprint(s.auth),
	})
}

func (s *Server) handleListApps(w http.ResponseWriter, r *http.Request, _ string) {
	apps, err := s.auth.Apps()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if apps == nil {
		apps = []string{}
	}
	writeJSON(w, http.StatusOK, appsResponse{apps})
}

func (s *Server) handleCreateApp(w http.ResponseWriter, r *http.Request, admin string) {
	var req createAppRequest
	if err := decodeBody(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := checkName(req.Name); err != nil {
		s.fail(w, r, err)
		return
	}
	certPEM, keyPEM, err := s.auth.CreateApp(req.Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.cfg.Log.Info("admin: created app", "admin", admin, "app", req.Name)
	resp := bundleResponse{Name: req.Name, ClientCert: string(certPEM), ClientKey: string(keyPEM), CACert: string(s.auth.CACertPEM())}
	clear(keyPEM)
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleSignCSR(w http.ResponseWriter, r *http.Request, admin string) {
	name := r.PathValue("name")
	if err := checkName(name); err != nil {
		s.fail(w, r, err)
		return
	}
	var req csrRequest
	if err := decodeBody(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	certPEM, err := s.auth.SignCSR(name, []byte(req.CSR))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.cfg.Log.Info("admin: signed CSR", "admin", admin, "app", name)
	writeJSON(w, http.StatusOK, csrResponse{Name: name, Cert: string(certPEM), CA: string(s.auth.CACertPEM())})
}

func (s *Server) handleTrust(w http.ResponseWriter, r *http.Request, admin string) {
	name := r.PathValue("name")
	if err := checkName(name); err != nil {
		s.fail(w, r, err)
		return
	}
	var req trustRequest
	if err := decodeBody(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	// auth.TrustCert validates the PEM fully; parse it here only to keep
	// admin certificates out of the app registry.
	var fp auth.Fingerprint
	if blk, _ := pem.Decode([]byte(req.Cert)); blk != nil && blk.Type == "CERTIFICATE" {
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
			fp = auth.FingerprintOf(c)
			if s.isAdminCert(fp) {
				s.fail(w, r, &requestError{http.StatusConflict, "an admin certificate cannot be pinned for a KMIP app"})
				return
			}
		}
	}
	if err := s.auth.TrustCert(name, []byte(req.Cert), auth.TrustOptions{AnyEKU: req.AnyEKU}); err != nil {
		s.fail(w, r, err)
		return
	}
	s.cfg.Log.Info("admin: pinned certificate", "admin", admin, "app", name, "sha256", fp.String())
	writeJSON(w, http.StatusOK, trustResponse{Name: name, SHA256: fp.String()})
}
