package astis

// Tests against the live test edge (src/sdk/tests/sdk_test_edge, started by
// with_test_edge.sh from ctest sdk_go_test), which exports the ASTIS_*
// settings and ASTIS_TEST_EDGE_INFO (plaintexts of the sealed values).

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
)

type edgeInfo struct {
	Plaintexts map[string]string `json:"plaintexts"`
	Refused    []string          `json:"refused"`
}

func liveEdge(t *testing.T) edgeInfo {
	t.Helper()
	path := os.Getenv("ASTIS_TEST_EDGE_INFO")
	if path == "" {
		t.Skip("no live edge: run through ctest (sdk_go_test) or src/sdk/tests/with_test_edge.sh")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var info edgeInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		t.Fatal(err)
	}
	if len(info.Plaintexts) == 0 || len(info.Refused) == 0 {
		t.Fatalf("edge info lacks plaintexts or refused names: %s", path)
	}
	return info
}

func newClient(t *testing.T) *Client {
	t.Helper()
	c, err := New(Config{FromEnv: true})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func codeOf(t *testing.T, err error) Code {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not an *astis.Error", err)
	}
	return e.Code
}

func TestGetReturnsPlaintextUntilRelease(t *testing.T) {
	info := liveEdge(t)
	c := newClient(t)
	s, err := c.Get("db-password")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got := string(s.Bytes()); got != info.Plaintexts["db-password"] {
		t.Fatalf("Get = %q, want the sealed plaintext", got)
	}
	s.Release()
	if s.Bytes() != nil || s.Len() != 0 {
		t.Fatal("Bytes after Release is not nil")
	}
	s.Release() // idempotent
}

func TestGetManyReturnsInOrder(t *testing.T) {
	info := liveEdge(t)
	c := newClient(t)
	names := []string{"greeting", "db-password", "api-token"}
	secrets, err := c.GetMany(names)
	if err != nil {
		t.Fatalf("GetMany: %v", err)
	}
	for i, n := range names {
		if got := string(secrets[i].Bytes()); got != info.Plaintexts[n] {
			t.Errorf("GetMany[%d] (%s) = %q", i, n, got)
		}
		secrets[i].Release()
	}
}

func TestGetManyIsAllOrNothing(t *testing.T) {
	liveEdge(t)
	c := newClient(t)
	secrets, err := c.GetMany([]string{"db-password", "no-such-secret"})
	if secrets != nil || codeOf(t, err) != CodeNotFound {
		t.Fatalf("GetMany with a missing name = %v, %v; want nil, not_found", secrets, err)
	}
}

func TestRefusedCapsuleCarriesWireCode(t *testing.T) {
	info := liveEdge(t)
	c := newClient(t)
	_, err := c.Get(info.Refused[0])
	if code := codeOf(t, err); code != CodeCapsuleScope {
		t.Fatalf("Get(%s) code = %v, want capsule_scope", info.Refused[0], code)
	}
	if code := codeOf(t, err); code.String() != "capsule_scope" {
		t.Fatalf("Code.String() = %q", code.String())
	}
}

func TestRejectsInvalidSecretName(t *testing.T) {
	liveEdge(t)
	c := newClient(t)
	if _, err := c.Get("../escape"); codeOf(t, err) != CodeInvalidArgument {
		t.Fatalf("Get(../escape) = %v, want invalid_argument", err)
	}
}

func TestRejectsPlainHTTPEdge(t *testing.T) {
	_, err := New(Config{EdgeURL: "http://127.0.0.1:1"})
	if codeOf(t, err) != CodeConfig {
		t.Fatalf("New(http) = %v, want config", err)
	}
}

func TestUnreachableEdgeIsUnavailable(t *testing.T) {
	liveEdge(t)
	c, err := New(Config{FromEnv: true, EdgeURL: "https://127.0.0.1:1"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer c.Close()
	if _, err := c.Get("db-password"); codeOf(t, err) != CodeUnavailable {
		t.Fatalf("Get via a closed port = %v, want unavailable", err)
	}
}

func TestGetAfterCloseFails(t *testing.T) {
	liveEdge(t)
	c := newClient(t)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if _, err := c.Get("db-password"); codeOf(t, err) != CodeInvalidArgument {
		t.Fatalf("Get after Close = %v, want invalid_argument", err)
	}
}

func TestConcurrentGets(t *testing.T) {
	info := liveEdge(t)
	c := newClient(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 4; j++ {
				s, err := c.Get("api-token")
				if err != nil {
					errs <- err
					return
				}
				if string(s.Bytes()) != info.Plaintexts["api-token"] {
					errs <- errors.New("wrong plaintext")
				}
				s.Release()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestVersionNamesTheLibrary(t *testing.T) {
	v := Version()
	if !strings.HasPrefix(v, "libastis ") || !strings.Contains(v, "\ncommit ") || !strings.Contains(v, "\nlibsodium ") {
		t.Fatalf("Version() = %q, want the astis_version() block", v)
	}
}
