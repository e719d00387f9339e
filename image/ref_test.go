package image

import (
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestParseReferenceDefaults(t *testing.T) {
	dig := "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for in, want := range map[string]string{
		"busybox":                     "docker.io/library/busybox:latest",
		"busybox:1.36":                "docker.io/library/busybox:1.36",
		"docker.io/library/busybox":   "docker.io/library/busybox:latest",
		"user/app":                    "docker.io/user/app:latest",
		"ghcr.io/o/app:v2":            "ghcr.io/o/app:v2",
		"localhost:5000/app":          "localhost:5000/app:latest",
		"busybox@" + dig:              "docker.io/library/busybox@" + dig,
		"127.0.0.1:5000/x/y:z@" + dig: "127.0.0.1:5000/x/y@" + dig,
	} {
		r, err := ParseReference(in, false)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := CanonicalName(r); got != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}
	if _, err := ParseReference("UPPER/case", false); err == nil {
		t.Error("bad reference accepted")
	}
}

func TestPlainHTTPPolicy(t *testing.T) {
	for reg, want := range map[string]bool{
		"localhost:5000": true, "127.0.0.1:5000": true, "127.1.2.3": true, "[::1]:5000": true, "::1": true,
		"10.0.0.1:5000": false, "192.168.1.1": false, "registry.example.com": false, "localhost.example.com": false,
	} {
		if got := IsLoopbackRegistry(reg); got != want {
			t.Errorf("IsLoopbackRegistry(%s) = %v", reg, got)
		}
	}
	for _, tc := range []struct {
		host     string
		scheme   string
		insecure bool
		allowed  bool
	}{
		{"10.0.0.1:5000", "http", false, false},
		{"10.0.0.1:5000", "http", true, true},
		{"10.0.0.1:5000", "https", false, true},
		{"127.0.0.5:5000", "http", false, true},
	} {
		reached := false
		g := plainHTTPGuard{next: roundTripFunc(func(*http.Request) (*http.Response, error) {
			reached = true
			return nil, errors.New("stop")
		}), insecure: tc.insecure}
		g.RoundTrip(&http.Request{URL: &url.URL{Scheme: tc.scheme, Host: tc.host, Path: "/v2/"}})
		if reached != tc.allowed {
			t.Errorf("%+v: request sent = %v", tc, reached)
		}
	}
	// Loopback references are marked insecure (plain HTTP) without asking.
	r, _ := ParseReference("127.0.0.9:5000/a", false)
	if r.Context().Scheme() != "http" {
		t.Error("loopback registry not plain HTTP")
	}
	r, _ = ParseReference("example.com/a", false)
	if r.Context().Scheme() != "https" {
		t.Error("remote registry not HTTPS")
	}
	r, _ = ParseReference("example.com/a", true)
	if r.Context().Scheme() != "http" {
		t.Error("--insecure not honoured")
	}
	_ = name.Insecure
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestPlatforms(t *testing.T) {
	p, err := ParsePlatform("linux/arm64/v8")
	if err != nil || p.Variant != "v8" {
		t.Fatal(p, err)
	}
	for _, bad := range []string{"linux", "windows/amd64", "linux/s390x", "a/b/c/d"} {
		if _, err := ParsePlatform(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if !platformMatches(v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, v1.Platform{OS: "linux", Architecture: "arm64"}) {
		t.Error("arm64 v8 should match arm64 without variant")
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("ELFUSE_HOME", "/x/y")
	if DefaultDir() != "/x/y" {
		t.Error("ELFUSE_HOME ignored")
	}
	t.Setenv("ELFUSE_HOME", "")
	want := "/var/lib/elfuse"
	if os.Geteuid() != 0 {
		t.Setenv("XDG_DATA_HOME", "/data")
		want = filepath.Join("/data", "elfuse")
	}
	if got := DefaultDir(); got != want {
		t.Errorf("DefaultDir() = %s, want %s", got, want)
	}
}

func TestMalformedDigestsNeverNamePaths(t *testing.T) {
	s := &Store{dir: "/store"}
	for _, h := range []v1.Hash{{Algorithm: "sha256", Hex: "../../../etc/passwd"}, {Algorithm: "../x", Hex: "00"}, {Algorithm: "sha256", Hex: "ABCD"}} {
		if p, err := s.blobPath(h); err == nil {
			t.Errorf("%v gave path %s", h, p)
		}
	}
}
