package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

func TestHtpasswd(t *testing.T) {
	h, err := ParseHtpasswd(nil)
	require.NoError(t, err)
	require.NoError(t, h.Set("alice", "secret"))
	require.NoError(t, h.Set("bob", "pw"))
	require.NoError(t, h.Set("alice", "new"), "add updates an entry")
	assert.Error(t, h.Set("Alice", "x"), "names become repository components")
	assert.Error(t, h.Set("a:b", "x"))
	assert.Error(t, h.Set("carol", ""))

	path := filepath.Join(t.TempDir(), "htpasswd")
	require.NoError(t, h.Save(path))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	h2, err := LoadHtpasswd(path)
	require.NoError(t, err)
	assert.Equal(t, []string{"alice", "bob"}, h2.Users())
	assert.True(t, h2.Check("alice", "new"))
	assert.False(t, h2.Check("alice", "secret"))
	assert.False(t, h2.Check("nobody", "new"))

	_, err = ParseHtpasswd([]byte("bob:{SHA}abc\n"))
	assert.True(t, errdefs.IsInvalidArgument(err), "only bcrypt")
	_, err = ParseHtpasswd([]byte("no-colon\n"))
	assert.Error(t, err)
	h3, err := ParseHtpasswd([]byte("# users\n\n" + string(h2.Bytes())))
	require.NoError(t, err)
	assert.Len(t, h3.Users(), 2)
	_, err = LoadHtpasswd(filepath.Join(t.TempDir(), "missing"))
	assert.True(t, errdefs.IsNotFound(err))
}

func TestPolicy(t *testing.T) {
	assert.True(t, Allowed("alice", "bob/app", ActionPull))
	assert.True(t, Allowed("alice", "alice/app", ActionPush))
	assert.True(t, Allowed("alice", "alice/team/app", ActionDelete))
	assert.False(t, Allowed("alice", "alice", ActionPush))
	assert.False(t, Allowed("alice", "alicex/app", ActionPush))
	assert.False(t, Allowed("alice", "bob/app", ActionPush))
	assert.True(t, Allowed("alice", "", ActionAll))
	assert.False(t, Allowed("", "x/y", ActionPull))
}

func TestTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth", "key.pem")
	iss, err := LoadOrCreateTokenIssuer(path, "reg")
	require.NoError(t, err)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	again, err := LoadOrCreateTokenIssuer(path, "reg")
	require.NoError(t, err)

	tok, _, err := iss.Issue("alice", []ResourceActions{{Type: "repository", Name: "alice/app", Actions: []string{"pull", "push"}}})
	require.NoError(t, err)
	c, err := again.Verify(tok)
	require.NoError(t, err, "the key survives a restart")
	assert.Equal(t, "alice", c.Subject)
	assert.True(t, c.Grants("alice/app", "push"))
	assert.False(t, c.Grants("alice/other", "pull"))

	other, err := LoadOrCreateTokenIssuer(filepath.Join(t.TempDir(), "k"), "reg")
	require.NoError(t, err)
	_, err = other.Verify(tok)
	assert.True(t, errdefs.IsUnauthorized(err), "another registry's key")
	wrongService, err := LoadOrCreateTokenIssuer(path, "other")
	require.NoError(t, err)
	_, err = wrongService.Verify(tok)
	assert.Error(t, err, "audience")

	iss.now = func() time.Time { return time.Now().Add(-time.Hour) }
	old, _, err := iss.Issue("alice", nil)
	require.NoError(t, err)
	_, err = again.Verify(old)
	assert.True(t, errdefs.IsUnauthorized(err), "expired")
}

func TestParseScope(t *testing.T) {
	ra, err := ParseScope("repository:alice/app:pull,push,pull")
	require.NoError(t, err)
	assert.Equal(t, ResourceActions{Type: "repository", Name: "alice/app", Actions: []string{"pull", "push"}}, ra)
	ra, err = ParseScope("repository:host:5000/app:pull")
	require.NoError(t, err)
	assert.Equal(t, "host:5000/app", ra.Name)
	ra, err = ParseScope("registry:catalog:*")
	require.NoError(t, err)
	assert.Equal(t, "registry:catalog:*", ra.String())
	for _, bad := range []string{"", "repository", "repository:x", "repository:x:", ":x:pull"} {
		_, err := ParseScope(bad)
		assert.Error(t, err, bad)
	}
}

func TestServeTokenPasswordGrant(t *testing.T) {
	users, _ := ParseHtpasswd(nil)
	require.NoError(t, users.Set("alice", "secret"))
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	a := &Authorizer{Users: users, Tokens: NewTokenIssuer(key, "reg")}
	form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"secret"}, "service": {"reg"},
		"scope": {"repository:alice/app:pull,push repository:bob/app:pull,push"}}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	a.ServeToken(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Contains(t, rec.Body.String(), `"scope":"repository:alice/app:pull,push repository:bob/app:pull"`, "push to bob/ is not granted")

	form.Set("password", "nope")
	rec = httptest.NewRecorder()
	req = httptest.NewRequest("POST", "/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	a.ServeToken(rec, req)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
}

func FuzzParseHtpasswd(f *testing.F) {
	f.Add([]byte("alice:$2y$05$abcdefghijklmnopqrstuuE2vbDJBTHbo0Ol0DAnbbCxYxD7Y3Jvq\n# comment\n"))
	f.Add([]byte("bob:{SHA}x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHtpasswd(b)
		if err != nil {
			return
		}
		for _, u := range h.Users() {
			if u == "" || strings.ContainsAny(u, ":\n ") {
				t.Fatalf("user %q accepted", u)
			}
		}
	})
}

func FuzzParseScope(f *testing.F) {
	f.Add("repository:alice/app:pull,push")
	f.Add("registry:catalog:*")
	f.Add("a::")
	f.Fuzz(func(t *testing.T, s string) {
		ra, err := ParseScope(s)
		if err != nil {
			return
		}
		if ra.Type == "" || ra.Name == "" || len(ra.Actions) == 0 {
			t.Fatalf("%q parsed to %+v", s, ra)
		}
	})
}

// fuzzAuthorizer has alice (password "secret", cheap bcrypt so fuzzing
// stays fast) and a token issuer; tok is a valid token of alice's for
// alice/app.
func fuzzAuthorizer(f *testing.F) (a *Authorizer, tok string) {
	f.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	require.NoError(f, err)
	users, err := ParseHtpasswd([]byte("alice:" + string(hash) + "\n"))
	require.NoError(f, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(f, err)
	iss := NewTokenIssuer(key, "reg")
	tok, _, err = iss.Issue("alice", []ResourceActions{{Type: "repository", Name: "alice/app", Actions: []string{ActionPull, ActionPush}}})
	require.NoError(f, err)
	return &Authorizer{Users: users, Tokens: iss}, tok
}

func FuzzTokenVerify(f *testing.F) {
	a, tok := fuzzAuthorizer(f)
	f.Add(tok)
	f.Add(tok[:len(tok)-2])
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := a.Tokens.Verify(s)
		if err != nil {
			if !errdefs.IsUnauthorized(err) {
				t.Fatalf("Verify(%q): %v is not Unauthenticated", s, err)
			}
			return
		}
		// Nothing but a token the issuer signed gets through.
		if c.Subject != "alice" || !c.Grants("alice/app", ActionPush) || c.Grants("bob/app", ActionPull) {
			t.Fatalf("Verify(%q) = %+v", s, c)
		}
	})
}

func FuzzAuthorize(f *testing.F) {
	a, tok := fuzzAuthorizer(f)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:secret"))
	for _, h := range []string{basic, "Bearer " + tok, "bearer  " + tok + " ", "Basic", "Basic !!!", "Bearer", "Digest x", "",
		"Basic " + base64.StdEncoding.EncodeToString([]byte("alice:")), "Basic " + base64.StdEncoding.EncodeToString([]byte(":secret"))} {
		f.Add(h, "alice/app")
		f.Add(h, "bob/app")
	}
	f.Fuzz(func(t *testing.T, header, repo string) {
		r := httptest.NewRequest("GET", "/v2/", nil)
		r.Header.Set("Authorization", header)
		user, err := a.Authorize(r, repo, ActionPull, ActionPush)
		if err != nil {
			if !errdefs.IsUnauthorized(err) && !errdefs.IsPermissionDenied(err) {
				t.Fatalf("Authorize(%q): %v is neither Unauthenticated nor PermissionDenied", header, err)
			}
			_ = a.Challenge(r, repo, []string{ActionPull, ActionPush}, err)
			return
		}
		if user != "alice" || !Allowed(user, repo, ActionPush) {
			t.Fatalf("Authorize(%q, %q) let %q in", header, repo, user)
		}
	})
}
