package image

import (
	"fmt"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ParsePlatform parses "linux/amd64", "linux/arm64" or "linux/arm64/v8"
// (os/arch[/variant]).
func ParsePlatform(s string) (v1.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return v1.Platform{}, fmt.Errorf("bad platform %q: want os/arch[/variant], e.g. linux/arm64", s)
	}
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	if p.OS != "linux" {
		return v1.Platform{}, fmt.Errorf("unsupported platform %q: elfuse runs linux images", s)
	}
	if p.Architecture != "amd64" && p.Architecture != "arm64" {
		return v1.Platform{}, fmt.Errorf("unsupported platform %q: elfuse runs amd64 and arm64 images", s)
	}
	return p, nil
}

// HostPlatform is the platform pulled by default: linux on the host's CPU
// architecture (also on macOS, whose guests are Linux programs).
func HostPlatform() v1.Platform {
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// FormatPlatform renders a platform as os/arch[/variant].
func FormatPlatform(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// platformMatches tells whether an image's platform satisfies the wanted one.
// An arm64 variant of "" and "v8" are the same.
func platformMatches(want, have v1.Platform) bool {
	if want.OS != have.OS || want.Architecture != have.Architecture {
		return false
	}
	if want.Variant == "" {
		return true
	}
	norm := func(p v1.Platform) string {
		if p.Architecture == "arm64" && p.Variant == "" {
			return "v8"
		}
		return p.Variant
	}
	return norm(want) == norm(have)
}

// selectManifest picks the manifest for want from an index. When want is
// not explicit, the host platform is preferred and the other architecture
// elfuse can run is taken as a fallback.
func selectManifest(im *v1.IndexManifest, want v1.Platform, explicit bool) (v1.Descriptor, error) {
	candidates := []v1.Platform{want}
	if !explicit {
		for _, arch := range []string{"amd64", "arm64"} {
			if arch != want.Architecture {
				candidates = append(candidates, v1.Platform{OS: "linux", Architecture: arch})
			}
		}
	}
	for _, c := range candidates {
		for _, d := range im.Manifests {
			if d.Platform == nil || !d.MediaType.IsImage() {
				continue
			}
			if platformMatches(c, *d.Platform) {
				return d, nil
			}
		}
	}
	var have []string
	for _, d := range im.Manifests {
		if d.Platform != nil {
			have = append(have, FormatPlatform(*d.Platform))
		}
	}
	return v1.Descriptor{}, fmt.Errorf("no image for platform %s in the index (it has: %s)", FormatPlatform(want), strings.Join(have, ", "))
}
