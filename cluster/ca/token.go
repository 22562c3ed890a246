package ca

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"math/big"
	"strings"

	"github.com/containerd/errdefs"
)

// Join token layout, as swarmkit writes it: "SWMTKN-1-" + the CA digest in
// base 36 left-padded to 50 characters + "-" + 128 random bits in base 36
// left-padded to 25 characters.
const (
	tokenPrefix     = "SWMTKN"
	tokenVersion    = "1"
	digestLen       = 50
	secretLen       = 25
	secretBytes     = 16
	tokenBase       = 36
	maxTokenLen     = 200
	joinTokenFormat = "SWMTKN-1-%0[1]*s-%0[3]*s"
)

// NewJoinToken returns a fresh token pinned to ca. Worker and manager
// tokens are two independent calls; rotating one is calling it again.
func NewJoinToken(ca *RootCA) (string, error) {
	var b [secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	var secret, dgst big.Int
	secret.SetBytes(b[:])
	if _, ok := dgst.SetString(ca.Digest.Encoded(), 16); !ok {
		return "", fmt.Errorf("CA digest %q is not hex: %w", ca.Digest, errdefs.ErrInvalidArgument)
	}
	return fmt.Sprintf(joinTokenFormat, digestLen, dgst.Text(tokenBase), secretLen, secret.Text(tokenBase)), nil
}

// JoinToken is a parsed token.
type JoinToken struct {
	// CADigest is the hex sha256 of the root CA's PEM.
	CADigest string
	// Secret is the base-36 secret part.
	Secret string
}

// ParseJoinToken checks a token's shape and decodes its CA digest.
func ParseJoinToken(token string) (JoinToken, error) {
	bad := fmt.Errorf("invalid join token: %w", errdefs.ErrInvalidArgument)
	if len(token) > maxTokenLen {
		return JoinToken{}, bad
	}
	parts := strings.Split(token, "-")
	if len(parts) != 4 || parts[0] != tokenPrefix || parts[1] != tokenVersion ||
		len(parts[2]) != digestLen || len(parts[3]) != secretLen {
		return JoinToken{}, bad
	}
	var dgst big.Int
	if _, ok := dgst.SetString(parts[2], tokenBase); !ok || !isBase36(parts[3]) {
		return JoinToken{}, bad
	}
	hex := fmt.Sprintf("%064x", &dgst)
	if len(hex) != 64 {
		return JoinToken{}, bad
	}
	return JoinToken{CADigest: hex, Secret: parts[3]}, nil
}

func isBase36(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z') {
			return false
		}
	}
	return true
}

// Matches reports whether token pins ca (its digest part names this root).
func (t JoinToken) Matches(ca *RootCA) bool { return t.CADigest == ca.Digest.Encoded() }

// SameToken compares a presented token with an issued one in constant time.
func SameToken(presented, issued string) bool {
	return len(presented) == len(issued) && subtle.ConstantTimeCompare([]byte(presented), []byte(issued)) == 1
}
