package storage

import (
	"fmt"
	"regexp"

	"github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
)

// MaxRepositoryLength bounds a repository name, as distribution does.
const MaxRepositoryLength = 255

// repositoryRE is the distribution spec's <name> grammar: lowercase
// components separated by "/", no empty, "." or ".." component.
var repositoryRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)

// tagRE is the spec's <reference> grammar for tags.
var tagRE = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)

// ValidateRepository checks a repository name; the error is of class
// errdefs.ErrInvalidArgument.
func ValidateRepository(name string) error {
	if len(name) > MaxRepositoryLength {
		return fmt.Errorf("repository name longer than %d characters: %w", MaxRepositoryLength, errdefs.ErrInvalidArgument)
	}
	if !repositoryRE.MatchString(name) {
		return fmt.Errorf("repository name %q: %w", name, errdefs.ErrInvalidArgument)
	}
	return nil
}

// ValidateTag checks a tag name.
func ValidateTag(tag string) error {
	if !tagRE.MatchString(tag) {
		return fmt.Errorf("tag %q: %w", tag, errdefs.ErrInvalidArgument)
	}
	return nil
}

// ParseDigest parses a digest of an algorithm the store can verify
// (sha256, sha512).
func ParseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", fmt.Errorf("digest %q: %v: %w", s, err, errdefs.ErrInvalidArgument)
	}
	if !d.Algorithm().Available() {
		return "", fmt.Errorf("digest %q: algorithm not supported: %w", s, errdefs.ErrInvalidArgument)
	}
	return d, nil
}
