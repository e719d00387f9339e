package image

import (
	"fmt"
	"net"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

const dockerHubRegistry = "index.docker.io"

// ParseReference parses an image reference with Docker's defaults: a missing
// registry is docker.io, a missing namespace on docker.io is library/, and a
// missing tag is latest ("busybox" is docker.io/library/busybox:latest).
// Registries on localhost or a loopback address, and any registry when
// insecure is set, are reached over plain HTTP.
func ParseReference(s string, insecure bool) (name.Reference, error) {
	ref, err := name.ParseReference(s)
	if err != nil {
		return nil, fmt.Errorf("parse image reference %q: %w", s, err)
	}
	if insecure || IsLoopbackRegistry(ref.Context().RegistryStr()) {
		ref, err = name.ParseReference(s, name.Insecure)
		if err != nil {
			return nil, fmt.Errorf("parse image reference %q: %w", s, err)
		}
	}
	return ref, nil
}

// IsLoopbackRegistry tells whether a registry host[:port] is localhost or a
// loopback address (127.0.0.0/8, ::1), which is reached over plain HTTP
// without asking.
func IsLoopbackRegistry(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CanonicalName renders a reference in its full Docker form, for example
// docker.io/library/busybox:latest or example.com/app@sha256:....
func CanonicalName(ref name.Reference) string {
	return repository(ref) + separator(ref) + ref.Identifier()
}

func separator(ref name.Reference) string {
	if _, ok := ref.(name.Digest); ok {
		return "@"
	}
	return ":"
}

// repository renders the repository of ref with docker.io for Docker Hub.
func repository(ref name.Reference) string {
	reg := ref.Context().RegistryStr()
	if reg == dockerHubRegistry {
		reg = "docker.io"
	}
	return reg + "/" + ref.Context().RepositoryStr()
}
