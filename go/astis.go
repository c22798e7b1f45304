// Package astis is the Go face of the ASTIS pod SDK: a cgo wrapper over the
// C ABI of libastis (include/astis/astis.h), mirroring include/astis/client.hpp.
//
//	c, err := astis.New(astis.Config{FromEnv: true}) // ASTIS_EDGE_URL, ...
//	if err != nil { ... }
//	defer c.Close()
//	s, err := c.Get("db-password")
//	if err != nil { var e *astis.Error; errors.As(err, &e); log.Print(e.Code) }
//	defer s.Release() // zeroes the plaintext
//	use(s.Bytes())
//
// Module path: astis.dev/astis (docs/install.md "Go"). Build:
// CGO_CFLAGS=-I<prefix>/include CGO_LDFLAGS="-L<prefix>/lib/<multiarch>" (the
// package links -lastis; with the libastis-dev package installed, neither is
// needed). Plaintext stays in the library's locked buffer;
// Bytes aliases it and is valid until Release. A copy the application makes
// (string(b), append) is on the Go heap, which is neither locked nor wiped.
package astis

/*
#cgo LDFLAGS: -lastis
#include <stdlib.h>
#include "astis/astis.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// Version returns astis_version() of the linked libastis: five lines, the
// first "libastis <semantic version>", then the git commit, build type and
// the OpenSSL and libsodium versions in use (include/astis/astis.h).
func Version() string { return C.GoString(C.astis_version()) }

// Code is an astis_code: 1-19 are the docs/protocol.md §7 wire codes, 20 and up
// are local to the SDK.
type Code int

// The codes callers branch on most; every astis_code value can occur.
const (
	CodeOK              Code = C.ASTIS_OK
	CodeSessionInvalid  Code = C.ASTIS_SESSION_INVALID
	CodePodNotLive      Code = C.ASTIS_POD_NOT_LIVE
	CodeCapsuleScope    Code = C.ASTIS_CAPSULE_SCOPE
	CodeInvalidArgument Code = C.ASTIS_INVALID_ARGUMENT
	CodeConfig          Code = C.ASTIS_CONFIG
	CodeIO              Code = C.ASTIS_IO
	CodeNotFound        Code = C.ASTIS_NOT_FOUND
	CodeCrypto          Code = C.ASTIS_CRYPTO
	CodeUnavailable     Code = C.ASTIS_UNAVAILABLE
	CodeInternal        Code = C.ASTIS_INTERNAL
)

// String returns the code's snake_case name ("not_found"; "unknown" for a
// value outside the enum).
func (c Code) String() string { return C.GoString(C.astis_code_name(C.astis_code(c))) }

// Error is a failed call: its Code and a message that never holds a key,
// token or plaintext.
type Error struct {
	Code    Code
	Message string
}

// Error returns "<code name>: <message>".
func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Config selects the SDK settings. With FromEnv, the ASTIS_* environment
// variables are read first (astis_config_load_env); then every non-empty
// field below overrides. Unset settings keep the defaults of astis.h.
type Config struct {
	FromEnv         bool
	EdgeURL         string // comma-separated https base URLs
	CAFile          string
	APIKeyFile      string
	APIKeyEnv       string
	TokenPath       string
	SecretsDir      string
	EnvPrefix       string
	RotationSeconds *int64 // nil: default (3600); 0 disables key rotation
}

// Client holds one edge session and the pod's keys in locked memory. Safe for
// concurrent use; Close ends the session and wipes the keys.
type Client struct {
	mu sync.RWMutex // Get/GetMany hold it shared, Close exclusively
	c  *C.astis_client
}

// Secret owns one plaintext in the library's locked memory until Release.
type Secret struct {
	mu sync.Mutex
	s  *C.astis_secret
}

func configMessage(cfg *C.astis_config) string {
	var buf [512]C.char
	C.astis_config_last_message(cfg, &buf[0], C.size_t(len(buf)))
	return C.GoString(&buf[0])
}

func configSet(cfg *C.astis_config, value string, set func(*C.astis_config, *C.char) C.astis_code) error {
	if value == "" {
		return nil
	}
	cs := C.CString(value)
	defer C.free(unsafe.Pointer(cs))
	if code := set(cfg, cs); code != C.ASTIS_OK {
		return &Error{Code(code), configMessage(cfg)}
	}
	return nil
}

// New validates cfg and makes a client (astis_client_new): keys are
// generated, nothing is sent yet. Errors are *Error (CodeConfig, CodeIO,
// CodeCrypto, ...). The caller owns the client and must Close it.
func New(cfg Config) (*Client, error) {
	var c *C.astis_config
	if code := C.astis_config_new(&c); code != C.ASTIS_OK {
		return nil, &Error{Code(code), "astis_config_new failed"}
	}
	defer C.astis_config_free(c)
	if cfg.FromEnv {
		if code := C.astis_config_load_env(c); code != C.ASTIS_OK {
			return nil, &Error{Code(code), configMessage(c)}
		}
	}
	setters := []struct {
		value string
		set   func(*C.astis_config, *C.char) C.astis_code
	}{
		{cfg.EdgeURL, func(c *C.astis_config, v *C.char) C.astis_code { return C.astis_config_set_edge_url(c, v) }},
		{cfg.CAFile, func(c *C.astis_config, v *C.char) C.astis_code { return C.astis_config_set_ca_file(c, v) }},
		{cfg.APIKeyFile, func(c *C.astis_config, v *C.char) C.astis_code { return C.astis_config_set_api_key_file(c, v) }},
		{cfg.APIKeyEnv, func(c *C.astis_config, v *C.char) C.astis_code { return C.astis_config_set_api_key_env(c, v) }},
		{cfg.TokenPath, func(c *C.astis_config, v *C.char) C.astis_code { return C.astis_config_set_token_path(c, v) }},
		{cfg.SecretsDir, func(c *C.astis_config, v *C.char) C.astis_code { return C.astis_config_set_secrets_dir(c, v) }},
		{cfg.EnvPrefix, func(c *C.astis_config, v *C.char) C.astis_code { return C.astis_config_set_env_prefix(c, v) }},
	}
	for _, s := range setters {
		if err := configSet(c, s.value, s.set); err != nil {
			return nil, err
		}
	}
	if cfg.RotationSeconds != nil {
		if code := C.astis_config_set_rotation_seconds(c, C.int64_t(*cfg.RotationSeconds)); code != C.ASTIS_OK {
			return nil, &Error{Code(code), configMessage(c)}
		}
	}
	client := &Client{}
	if code := C.astis_client_new(c, &client.c); code != C.ASTIS_OK {
		return nil, &Error{Code(code), configMessage(c)}
	}
	runtime.SetFinalizer(client, func(cl *Client) { _ = cl.Close() })
	return client, nil
}

// clientError reads the message of this OS thread's last failure; the caller
// holds runtime.LockOSThread since the failing call (the C ABI keeps the
// message per thread).
func (c *Client) clientError(code C.astis_code) error {
	var buf [512]C.char
	C.astis_client_last_message(c.c, &buf[0], C.size_t(len(buf)))
	return &Error{Code(code), C.GoString(&buf[0])}
}

func newSecret(s *C.astis_secret) *Secret {
	out := &Secret{s: s}
	runtime.SetFinalizer(out, func(x *Secret) { x.Release() })
	return out
}

// Get returns the plaintext of secret name (astis_client_get). Errors are
// *Error: the docs/protocol.md §7 code when the edge refuses, CodeNotFound,
// CodeInvalidArgument (bad name, or a closed client), CodeUnavailable, ...
// The caller owns the Secret and must Release it.
func (c *Client) Get(name string) (*Secret, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.c == nil {
		return nil, &Error{CodeInvalidArgument, "client is closed"}
	}
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var s *C.astis_secret
	if code := C.astis_client_get(c.c, cs, &s); code != C.ASTIS_OK {
		return nil, c.clientError(code)
	}
	return newSecret(s), nil
}

// GetMany returns the plaintexts of names in order, fetched in one batch
// (astis_client_get_many); all or nothing: on error no Secret is returned and
// the message names the first failing secret.
func (c *Client) GetMany(names []string) ([]*Secret, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.c == nil {
		return nil, &Error{CodeInvalidArgument, "client is closed"}
	}
	if len(names) == 0 {
		return nil, nil
	}
	// The C arrays live in C memory: cgo forbids Go pointers to Go pointers.
	ptrSize := C.size_t(unsafe.Sizeof(uintptr(0)))
	cnames := unsafe.Slice((**C.char)(C.calloc(C.size_t(len(names)), ptrSize)), len(names))
	defer func() {
		for _, p := range cnames {
			C.free(unsafe.Pointer(p))
		}
		C.free(unsafe.Pointer(&cnames[0]))
	}()
	for i, n := range names {
		cnames[i] = C.CString(n)
	}
	out := unsafe.Slice((**C.astis_secret)(C.calloc(C.size_t(len(names)), ptrSize)), len(names))
	defer C.free(unsafe.Pointer(&out[0]))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if code := C.astis_client_get_many(c.c, &cnames[0], C.size_t(len(names)), &out[0]); code != C.ASTIS_OK {
		return nil, c.clientError(code)
	}
	secrets := make([]*Secret, len(names))
	for i := range out {
		secrets[i] = newSecret(out[i])
	}
	return secrets, nil
}

// Close ends the edge session (best effort) and wipes both keys
// (astis_client_free). Idempotent; later gets fail with CodeInvalidArgument.
// Secrets already returned stay valid until released.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c != nil {
		C.astis_client_free(c.c)
		c.c = nil
	}
	return nil
}

// Bytes returns the plaintext, aliasing the library's locked buffer: valid
// until Release (nil after). Do not retain it or modify it.
func (s *Secret) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s == nil {
		return nil
	}
	n := int(C.astis_secret_size(s.s))
	if n == 0 {
		return []byte{}
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(C.astis_secret_data(s.s))), n)
}

// Len returns the plaintext length in bytes (0 after Release).
func (s *Secret) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s == nil {
		return 0
	}
	return int(C.astis_secret_size(s.s))
}

// Release zeroes the plaintext and frees it (astis_secret_free); idempotent.
func (s *Secret) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s != nil {
		C.astis_secret_free(s.s)
		s.s = nil
	}
}
