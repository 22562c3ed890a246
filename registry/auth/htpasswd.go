package auth

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"golang.org/x/crypto/bcrypt"

	"wharf.io/wharf/internal/atomicfile"
)

// Htpasswd is a set of users and their bcrypt password hashes.
type Htpasswd struct {
	mu    sync.RWMutex
	users map[string][]byte
}

// dummyHash is compared against when the user is unknown, so a wrong user
// name costs as long as a wrong password (no user enumeration by timing).
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("wharf"), bcrypt.DefaultCost)

// ParseHtpasswd reads "user:$2y$…" lines (blank lines and # comments are
// skipped); other hash kinds are refused: a clear error beats accepting
// weak hashes silently.
func ParseHtpasswd(data []byte) (*Htpasswd, error) {
	h := &Htpasswd{users: map[string][]byte{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" || strings.ContainsAny(user, " \t") {
			return nil, fmt.Errorf("htpasswd line %d: expected user:hash: %w", n, errdefs.ErrInvalidArgument)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("htpasswd line %d: user %s: only bcrypt hashes are supported (htpasswd -B): %w", n, user, errdefs.ErrInvalidArgument)
		}
		h.users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("htpasswd: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return h, nil
}

// LoadHtpasswd reads an htpasswd file.
func LoadHtpasswd(path string) (*Htpasswd, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("htpasswd file %s: %w", path, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return ParseHtpasswd(b)
}

// Save writes the file atomically, readable by its owner only.
func (h *Htpasswd) Save(path string) error {
	return atomicfile.WriteFile(path, h.Bytes(), 0o600)
}

// Check reports whether password is user's.
func (h *Htpasswd) Check(user, password string) bool {
	h.mu.RLock()
	hash, ok := h.users[user]
	h.mu.RUnlock()
	if !ok {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
}

// Set adds user or replaces their password.
func (h *Htpasswd) Set(user, password string) error {
	if err := validUser(user); err != nil {
		return err
	}
	if password == "" {
		return fmt.Errorf("empty password: %w", errdefs.ErrInvalidArgument)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("password: %v: %w", err, errdefs.ErrInvalidArgument) // longer than bcrypt's 72 bytes
	}
	h.mu.Lock()
	h.users[user] = hash
	h.mu.Unlock()
	return nil
}

// Users lists the user names, sorted.
func (h *Htpasswd) Users() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	names := make([]string, 0, len(h.users))
	for u := range h.users {
		names = append(names, u)
	}
	sort.Strings(names)
	return names
}

// Bytes is the file's content, users sorted.
func (h *Htpasswd) Bytes() []byte {
	var b bytes.Buffer
	for _, u := range h.Users() {
		h.mu.RLock()
		fmt.Fprintf(&b, "%s:%s\n", u, h.users[u])
		h.mu.RUnlock()
	}
	return b.Bytes()
}

// validUser keeps names usable as the first component of a repository
// (the push policy) and safe in the file format.
func validUser(user string) error {
	if user == "" || len(user) > 128 {
		return fmt.Errorf("user name %q: %w", user, errdefs.ErrInvalidArgument)
	}
	for _, c := range user {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("user name %q: only lowercase letters, digits, '.', '_' and '-' (it names the user's repositories): %w", user, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}
