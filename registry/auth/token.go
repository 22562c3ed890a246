package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/golang-jwt/jwt/v5"

	"wharf.io/wharf/internal/atomicfile"
)

// TokenTTL is how long an issued token is good for (Docker Hub uses 300 s;
// clients fetch a new one when it runs out).
const TokenTTL = 5 * time.Minute

// ResourceActions is one entry of a token's "access" claim, as in the
// Docker token specification: {"type":"repository","name":"alice/app",
// "actions":["pull","push"]}.
type ResourceActions struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Claims are a registry token's claims.
type Claims struct {
	jwt.RegisteredClaims
	Access []ResourceActions `json:"access"`
}

// Grants reports whether the claims allow action on repository repo ("" =
// the registry scope, for the catalog).
func (c *Claims) Grants(repo, action string) bool {
	typ, name := "repository", repo
	if repo == "" {
		typ, name = "registry", "catalog"
	}
	for _, a := range c.Access {
		if a.Type == typ && a.Name == name && (slices.Contains(a.Actions, action) || slices.Contains(a.Actions, ActionAll)) {
			return true
		}
	}
	return false
}

// TokenIssuer signs and verifies the registry's tokens with its own ECDSA
// P-256 key (ES256).
type TokenIssuer struct {
	key     *ecdsa.PrivateKey
	keyID   string
	Service string // the "service" of challenges, the tokens' issuer and audience
	now     func() time.Time
}

// LoadOrCreateTokenIssuer reads the signing key at keyPath, generating it
// (mode 0600) on first start.
func LoadOrCreateTokenIssuer(keyPath, service string) (*TokenIssuer, error) {
	b, err := os.ReadFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		key, gerr := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if gerr != nil {
			return nil, gerr
		}
		der, merr := x509.MarshalPKCS8PrivateKey(key)
		if merr != nil {
			return nil, merr
		}
		b = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := os.MkdirAll(filepath.Dir(keyPath), 0o700); err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFile(keyPath, b, 0o600); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("token key %s: not PEM: %w", keyPath, errdefs.ErrInvalidArgument)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("token key %s: %v: %w", keyPath, err, errdefs.ErrInvalidArgument)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("token key %s: not an ECDSA key: %w", keyPath, errdefs.ErrInvalidArgument)
	}
	return NewTokenIssuer(key, service), nil
}

// NewTokenIssuer signs with key.
func NewTokenIssuer(key *ecdsa.PrivateKey, service string) *TokenIssuer {
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	sum := sha256.Sum256(der)
	return &TokenIssuer{key: key, keyID: base32.StdEncoding.EncodeToString(sum[:15]), Service: service, now: time.Now}
}

// Issue signs a token for user with the given access.
func (t *TokenIssuer) Issue(user string, access []ResourceActions) (token string, issued time.Time, err error) {
	issued = t.now().UTC().Truncate(time.Second)
	jti := make([]byte, 12)
	rand.Read(jti)
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.Service,
			Subject:   user,
			Audience:  jwt.ClaimStrings{t.Service},
			ExpiresAt: jwt.NewNumericDate(issued.Add(TokenTTL)),
			NotBefore: jwt.NewNumericDate(issued.Add(-time.Minute)), // clock skew between hosts
			IssuedAt:  jwt.NewNumericDate(issued),
			ID:        base32.StdEncoding.EncodeToString(jti),
		},
		Access: access,
	}
	if c.Access == nil {
		c.Access = []ResourceActions{}
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tok.Header["kid"] = t.keyID
	s, err := tok.SignedString(t.key)
	return s, issued, err
}

// Verify checks a token's signature, issuer, audience and lifetime; the
// error is of class errdefs.ErrUnauthenticated.
func (t *TokenIssuer) Verify(token string) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return &t.key.PublicKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithIssuer(t.Service), jwt.WithAudience(t.Service),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(t.now), jwt.WithLeeway(30*time.Second))
	if err != nil {
		return nil, fmt.Errorf("token: %v: %w", err, errdefs.ErrUnauthenticated)
	}
	if c.Subject == "" {
		return nil, fmt.Errorf("token without subject: %w", errdefs.ErrUnauthenticated)
	}
	return &c, nil
}

// ParseScope reads one scope of a token request,
// "repository:<name>:<action>[,<action>…]" or "registry:catalog:*". The
// name is everything between the first and the last colon.
func ParseScope(s string) (ResourceActions, error) {
	typ, rest, ok := strings.Cut(s, ":")
	i := strings.LastIndex(rest, ":")
	if !ok || i <= 0 || typ == "" {
		return ResourceActions{}, fmt.Errorf("scope %q: want type:name:actions: %w", s, errdefs.ErrInvalidArgument)
	}
	ra := ResourceActions{Type: typ, Name: rest[:i]}
	for _, a := range strings.Split(rest[i+1:], ",") {
		if a != "" && !slices.Contains(ra.Actions, a) {
			ra.Actions = append(ra.Actions, a)
		}
	}
	if len(ra.Actions) == 0 {
		return ResourceActions{}, fmt.Errorf("scope %q: no actions: %w", s, errdefs.ErrInvalidArgument)
	}
	return ra, nil
}

// String is the scope's wire form.
func (r ResourceActions) String() string {
	return r.Type + ":" + r.Name + ":" + strings.Join(r.Actions, ",")
}
