package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHtpasswdAndBasic(t *testing.T) {
	h, err := ParseHtpasswd(nil)
	require.NoError(t, err)
	require.NoError(t, h.Set("alice", "secret"))
	h2, err := ParseHtpasswd(h.Bytes())
	require.NoError(t, err)
	assert.True(t, h2.Check("alice", "secret"))
	assert.False(t, h2.Check("alice", "wrong"))
	assert.False(t, h2.Check("bob", "secret"))

	_, err = ParseHtpasswd([]byte("bob:{SHA}abc\n"))
	assert.ErrorContains(t, err, "only bcrypt")

	a := Basic{Users: h2}
	check := func(user, pass, repo string, push bool) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/v2/", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		if a.Authorize(rec, req, repo, push) {
			return http.StatusOK
		}
		return rec.Code
	}
	assert.Equal(t, http.StatusUnauthorized, check("", "", "", false))
	assert.Equal(t, http.StatusUnauthorized, check("alice", "wrong", "", false))
	assert.Equal(t, http.StatusOK, check("alice", "secret", "bob/app", false), "anyone signed in pulls")
	assert.Equal(t, http.StatusOK, check("alice", "secret", "alice/app", true))
	assert.Equal(t, http.StatusForbidden, check("alice", "secret", "bob/app", true), "push only below your own name")
}

func FuzzParseHtpasswd(f *testing.F) {
	f.Add([]byte("alice:$2y$05$abcdefghijklmnopqrstuv\n# comment\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHtpasswd(b)
		if err == nil {
			h.Check("alice", "x")
		}
	})
}
