package auth

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Htpasswd is a set of users and their bcrypt password hashes.
type Htpasswd struct {
	mu    sync.RWMutex
	users map[string][]byte
}

// ParseHtpasswd reads "user:$2y$…" lines; other hash kinds are refused
// (a clear error beats accepting weak hashes silently).
func ParseHtpasswd(data []byte) (*Htpasswd, error) {
	h := &Htpasswd{users: map[string][]byte{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("htpasswd line %d: expected user:hash", n)
		}
		if !strings.HasPrefix(hash, "$2") {
			return nil, fmt.Errorf("htpasswd line %d: user %s: only bcrypt hashes are supported", n, user)
		}
		h.users[user] = []byte(hash)
	}
	return h, sc.Err()
}

// LoadHtpasswd reads an htpasswd file.
func LoadHtpasswd(path string) (*Htpasswd, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseHtpasswd(b)
}

// Check reports whether password is user's.
func (h *Htpasswd) Check(user, password string) bool {
	h.mu.RLock()
	hash, ok := h.users[user]
	h.mu.RUnlock()
	return ok && bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
}

// Set adds or replaces user's password.
func (h *Htpasswd) Set(user, password string) error {
	if user == "" || strings.ContainsAny(user, ":\n") {
		return fmt.Errorf("invalid user name %q", user)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.users[user] = hash
	h.mu.Unlock()
	return nil
}

// Bytes is the file's content, users sorted.
func (h *Htpasswd) Bytes() []byte {
	h.mu.RLock()
	defer h.mu.RUnlock()
	names := make([]string, 0, len(h.users))
	for u := range h.users {
		names = append(names, u)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, u := range names {
		fmt.Fprintf(&b, "%s:%s\n", u, h.users[u])
	}
	return b.Bytes()
}

// Basic is an authenticator for registry/server: HTTP Basic credentials
// checked against the htpasswd users.
type Basic struct {
	Users *Htpasswd
	Realm string
}

// Authorize implements server.Authenticator.
func (a Basic) Authorize(w http.ResponseWriter, r *http.Request, repo string, push bool) bool {
	user, pass, ok := r.BasicAuth()
	if !ok || !a.Users.Check(user, pass) {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Basic realm=%q`, a.realm()))
		writeAuthError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return false
	}
	if push && repo != "" && !strings.HasPrefix(repo, user+"/") {
		writeAuthError(w, http.StatusForbidden, "DENIED", fmt.Sprintf("requested access to the resource is denied: %s may push only to %s/…", user, user))
		return false
	}
	return true
}

func (a Basic) realm() string {
	if a.Realm != "" {
		return a.Realm
	}
	return "wharf registry"
}

func writeAuthError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q}]}`+"\n", code, msg)
}
