package image

import (
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
)

// ParseReference parses a user-supplied image reference into its normalised
// form (docker.io/library/…), adding the default tag "latest" when neither a
// tag nor a digest is given. Errors carry docker's wording and are
// InvalidArgument.
func ParseReference(s string) (reference.Named, error) {
	named, err := reference.ParseDockerRef(s)
	if err != nil {
		return nil, invalidReference(s, err)
	}
	return named, nil
}

func invalidReference(s string, err error) error {
	msg := err.Error()
	if !strings.HasPrefix(msg, "invalid reference format") && !strings.HasPrefix(msg, "invalid repository name") {
		msg = "invalid reference format: " + msg
	}
	if s == "" {
		msg = "invalid reference format"
	}
	return errdefs.ErrInvalidArgument.WithMessage(msg)
}

// FamiliarString is the short form docker prints: "busybox:latest" for
// "docker.io/library/busybox:latest".
func FamiliarString(r reference.Reference) string {
	return reference.FamiliarString(r)
}

// parsedRef is how a refOrID argument is to be looked up.
type parsedRef struct {
	named  reference.Named // tag or digest reference; nil for IDs
	id     digest.Digest   // full image ID
	prefix string          // hex prefix of an image ID, tried if named misses
}

// parseRefOrID classifies s as docker's daemon does: a full 64-hex ID or
// sha256:<hex> digest is an ID; anything else must be a valid reference and,
// when it is also a hex string, may fall back to an ID prefix.
func parseRefOrID(s string) (parsedRef, error) {
	if s == "" {
		return parsedRef{}, errdefs.ErrInvalidArgument.WithMessage("invalid reference format: repository name must have at least one component")
	}
	if hex, ok := strings.CutPrefix(s, "sha256:"); ok && isHex(hex) {
		if len(hex) == 64 {
			return parsedRef{id: digest.Digest(s)}, nil
		}
		return parsedRef{prefix: hex}, nil
	}
	ref, err := reference.ParseAnyReference(s)
	if err != nil {
		return parsedRef{}, invalidReference(s, err)
	}
	named, ok := ref.(reference.Named)
	if !ok {
		d, ok := ref.(reference.Digested)
		if !ok {
			return parsedRef{}, errdefs.ErrInvalidArgument.WithMessage("invalid reference format")
		}
		return parsedRef{id: d.Digest()}, nil
	}
	p := parsedRef{named: reference.TagNameOnly(named)}
	if _, isDigested := named.(reference.Digested); isDigested {
		if _, isTagged := named.(reference.Tagged); isTagged {
			// name:tag@digest resolves by digest, as docker does.
			canon, err := reference.ParseDockerRef(s)
			if err != nil {
				return parsedRef{}, invalidReference(s, err)
			}
			p.named = canon
		}
	}
	if isHex(s) {
		p.prefix = s
	}
	return p, nil
}

func isHex(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// shortID is the 12-hex form docker prints in messages.
func shortID(id digest.Digest) string {
	h := id.Encoded()
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// notFound is docker's "No such image" error.
func notFound(what string) error {
	return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("No such image: %s", what))
}
