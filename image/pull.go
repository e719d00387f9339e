package image

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PullOptions configure Pull.
type PullOptions struct {
	// Platform selects from a multi-platform index; nil means the host's
	// (falling back to the other architecture elfuse runs).
	Platform *v1.Platform
	// Insecure allows plain HTTP to any registry (loopback registries are
	// always allowed).
	Insecure bool
	// Keychain supplies credentials; nil means the Docker config keychain
	// (~/.docker/config.json and credential helpers).
	Keychain authn.Keychain
	// Transport is the base HTTP transport; nil means remote.DefaultTransport.
	Transport http.RoundTripper
	// Backoff is the retry schedule for registry requests; zero means
	// DefaultBackoff.
	Backoff remote.Backoff
}

// DefaultBackoff retries transient registry failures 4 times over about 3 s.
var DefaultBackoff = remote.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 5}

// plainHTTPGuard refuses plain HTTP to registries that are neither loopback
// nor explicitly insecure (go-containerregistry would otherwise fall back to
// HTTP for private-range addresses).
type plainHTTPGuard struct {
	next     http.RoundTripper
	insecure bool
}

func (g plainHTTPGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.insecure && !IsLoopbackRegistry(req.URL.Host) {
		return nil, fmt.Errorf("refusing plain HTTP to %s (use --insecure to allow it)", req.URL.Host)
	}
	return g.next.RoundTrip(req)
}

// Pull fetches an image into the store and returns its entry. For a
// multi-platform index it selects opts.Platform (default: the host's).
func (s *Store) Pull(ctx context.Context, ref string, opts PullOptions) (*Entry, error) {
	r, err := ParseReference(ref, opts.Insecure)
	if err != nil {
		return nil, err
	}
	canon := CanonicalName(r)
	l, err := s.storeLock(false)
	if err != nil {
		return nil, err
	}
	defer l.unlock()

	base := opts.Transport
	if base == nil {
		base = remote.DefaultTransport
	}
	kc := opts.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	bo := opts.Backoff
	if bo.Steps == 0 {
		bo = DefaultBackoff
	}
	ropts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(kc),
		remote.WithTransport(plainHTTPGuard{next: base, insecure: opts.Insecure}),
		remote.WithRetryBackoff(bo),
		remote.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout),
		remote.WithUserAgent("elfuse"),
	}
	s.log().Debug("pull", "ref", canon)
	desc, err := remote.Get(r, ropts...)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", canon, err)
	}
	if got := sha256Hash(desc.Manifest); got != desc.Digest {
		return nil, fmt.Errorf("pull %s: manifest digest mismatch: registry says %s, content is %s", canon, desc.Digest, got)
	}
	if d, ok := r.(name.Digest); ok && d.DigestStr() != desc.Digest.String() {
		return nil, fmt.Errorf("pull %s: registry returned manifest %s", canon, desc.Digest)
	}
	src := source{name: canon, repo: repository(r), selfVerifying: true}
	if t, ok := r.(name.Tag); ok {
		src.tag = t.TagStr()
	}
	want, explicit := HostPlatform(), false
	if opts.Platform != nil {
		want, explicit = *opts.Platform, true
	}
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("pull %s: %w", canon, err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("pull %s: %w", canon, err)
		}
		d, err := selectManifest(im, want, explicit)
		if err != nil {
			return nil, fmt.Errorf("pull %s: %w", canon, err)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("pull %s (%s): %w", canon, FormatPlatform(*d.Platform), err)
		}
		src.img, src.manifestDigest = img, d.Digest
		src.indexRaw, src.indexDigest = desc.Manifest, desc.Digest
	case desc.MediaType.IsImage():
		img, err := desc.Image()
		if err != nil {
			return nil, fmt.Errorf("pull %s: %w", canon, err)
		}
		src.img, src.manifestDigest = img, desc.Digest
		if err := checkPlatform(img, want, explicit); err != nil {
			return nil, fmt.Errorf("pull %s: %w", canon, err)
		}
	default:
		return nil, fmt.Errorf("pull %s: unsupported manifest media type %q", canon, desc.MediaType)
	}
	e, err := s.add(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", canon, err)
	}
	s.log().Debug("pulled", "ref", canon, "digest", e.Digest, "platform", e.Platform)
	return e, nil
}

// checkPlatform refuses a single-platform image whose platform differs from
// an explicit --platform, and one elfuse cannot run at all.
func checkPlatform(img v1.Image, want v1.Platform, explicit bool) error {
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	have := configPlatform(cf)
	if explicit && !platformMatches(want, have) {
		return fmt.Errorf("image is for %s, not the requested %s", FormatPlatform(have), FormatPlatform(want))
	}
	if have.OS != "" && have.OS != "linux" {
		return fmt.Errorf("image is for %s: elfuse runs linux images", FormatPlatform(have))
	}
	return nil
}
