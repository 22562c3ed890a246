// Package ids makes and checks the identifiers wharf hands out: 64-hex object
// IDs, their 12-character short form, and user-chosen names.
package ids

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"sync"

	"github.com/containerd/errdefs"
)

// New returns a random 64-character lowercase hex ID, like Docker's.
func New() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b[:])
}

// Short returns the 12-character form of id that Docker prints and uses as hostname.
func Short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// namePattern is Docker's rule for container names (RestrictedNameChars).
// The patterns are compiled when first used, not at start-up: every wharf
// command links this package, few of them check a name (~0.15 ms).
var namePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$`) })

// ValidateName checks a user-chosen container or volume name.
func ValidateName(name string) error {
	if !namePattern().MatchString(name) {
		return fmt.Errorf("invalid name %q, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed: %w", name, errdefs.ErrInvalidArgument)
	}
	return nil
}

var hexPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-f0-9]{1,64}$`) })

// IsHexPrefix reports whether s could be (a prefix of) a hex object ID.
func IsHexPrefix(s string) bool { return hexPattern().MatchString(s) }
