package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/containerd/errdefs"
)

// Authorizer checks /v2/ requests against htpasswd users and the policy
// (Allowed), accepting both Basic credentials and the registry's own Bearer
// tokens, and serves the token endpoint. It satisfies the registry
// server's Authorizer interface.
type Authorizer struct {
	Users *Htpasswd
	// Tokens signs and checks Bearer tokens; challenges name the token
	// endpoint when set, and ask for Basic credentials otherwise.
	Tokens *TokenIssuer
	// RealmHost is the registry's address as clients reach it
	// ("https://reg.example:5000" or "reg.example:5000"); empty: the Host
	// each request came to.
	RealmHost string
}

// TokenPath is where ServeToken is mounted.
const TokenPath = "/token"

// denial is an authorization failure: its class (Unauthenticated →
// 401, PermissionDenied → 403) and the error a Bearer challenge names.
type denial struct {
	msg    string
	class  error
	reason string // "", "invalid_token" or "insufficient_scope"
}

func (d *denial) Error() string { return d.msg }
func (d *denial) Unwrap() error { return d.class }

func unauthenticated(reason, msg string) error {
	return &denial{msg: msg, class: errdefs.ErrUnauthenticated, reason: reason}
}

// Authorize returns the user the request is from if they may do every
// action on repo ("" with no action: the API root, which needs only a
// signed-in user; "" with "*": the catalog). The error's class is
// errdefs.ErrUnauthenticated (no, wrong or expired credentials, or a token
// lacking a scope the user could get) or errdefs.ErrPermissionDenied (the
// policy refuses).
func (a *Authorizer) Authorize(r *http.Request, repo string, actions ...string) (string, error) {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	switch {
	case h == "":
		return "", unauthenticated("", "authentication required")
	case strings.EqualFold(scheme, "basic"):
		user, pass, ok := r.BasicAuth()
		if !ok || !a.Users.Check(user, pass) {
			return "", unauthenticated("", "invalid username or password")
		}
		for _, act := range actions {
			if !Allowed(user, repo, act) {
				return user, a.refused(user, repo, act)
			}
		}
		return user, nil
	case strings.EqualFold(scheme, "bearer") && a.Tokens != nil:
		c, err := a.Tokens.Verify(strings.TrimSpace(cred))
		if err != nil {
			return "", unauthenticated("invalid_token", err.Error())
		}
		for _, act := range actions {
			if c.Grants(repo, act) {
				continue
			}
			if Allowed(c.Subject, repo, act) {
				// The client asked for less than it needs: a new token
				// with the scope in the challenge will do.
				return c.Subject, unauthenticated("insufficient_scope", fmt.Sprintf("token does not grant %s on %s", act, scopeName(repo)))
			}
			return c.Subject, a.refused(c.Subject, repo, act)
		}
		return c.Subject, nil
	}
	return "", unauthenticated("", "unsupported authorization scheme")
}

func (a *Authorizer) refused(user, repo, action string) error {
	msg := fmt.Sprintf("requested access to the resource is denied: %s may not %s %s", user, action, scopeName(repo))
	if action == ActionPush || action == ActionDelete {
		msg += fmt.Sprintf(" (users push only to repositories below their own name, %s/…)", user)
	}
	return &denial{msg: msg, class: errdefs.ErrPermissionDenied, reason: "insufficient_scope"}
}

func scopeName(repo string) string {
	if repo == "" {
		return "the catalog"
	}
	return repo
}

// Allowed is the policy alone (for a cross-repository mount's source).
func (a *Authorizer) Allowed(user, repo, action string) bool { return Allowed(user, repo, action) }

// Challenge is the WWW-Authenticate value answering a failed Authorize.
func (a *Authorizer) Challenge(r *http.Request, repo string, actions []string, err error) string {
	if a.Tokens == nil {
		return `Basic realm="wharf registry"`
	}
	c := fmt.Sprintf(`Bearer realm=%q,service=%q`, a.realm(r), a.Tokens.Service)
	if len(actions) > 0 {
		scope := ResourceActions{Type: "repository", Name: repo, Actions: actions}
		if repo == "" {
			scope = ResourceActions{Type: "registry", Name: "catalog", Actions: []string{ActionAll}}
		}
		c += fmt.Sprintf(`,scope=%q`, scope.String())
	}
	var d *denial
	if errors.As(err, &d) && d.reason != "" {
		c += fmt.Sprintf(`,error=%q`, d.reason)
	}
	return c
}

func (a *Authorizer) realm(r *http.Request) string {
	host := a.RealmHost
	if host == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		host = scheme + "://" + r.Host
	} else if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	return strings.TrimSuffix(host, "/") + TokenPath
}

// tokenResponse is the token endpoint's answer (both names of the token,
// as Docker Hub sends them).
type tokenResponse struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
	Scope       string `json:"scope,omitempty"`
}

// ServeToken is the token endpoint: GET with Basic credentials and
// ?service=&scope=…&account= (the Docker token flow), or POST with an
// OAuth2 password grant (what containerd tries first). Anonymous requests
// are refused; the token grants the requested actions the policy allows.
func (a *Authorizer) ServeToken(w http.ResponseWriter, r *http.Request) {
	if a.Tokens == nil {
		writeJSONError(w, http.StatusNotFound, "UNSUPPORTED", "this registry issues no tokens")
		return
	}
	var user, pass, service string
	var scopes []string
	switch r.Method {
	case http.MethodGet:
		var ok bool
		if user, pass, ok = r.BasicAuth(); !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="wharf registry"`)
			writeJSONError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required: sign in with a user of the registry")
			return
		}
		q := r.URL.Query()
		service, scopes = q.Get("service"), q["scope"]
		if acct := q.Get("account"); acct != "" && acct != user {
			writeJSONError(w, http.StatusBadRequest, "DENIED", "account does not match the credentials")
			return
		}
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			writeJSONError(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		if gt := r.PostForm.Get("grant_type"); gt != "password" {
			writeJSONError(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q: only password is supported", gt))
			return
		}
		user, pass, service = r.PostForm.Get("username"), r.PostForm.Get("password"), r.PostForm.Get("service")
		scopes = strings.Fields(r.PostForm.Get("scope"))
	default:
		w.Header().Set("Allow", "GET, POST")
		writeJSONError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "use GET or POST")
		return
	}
	if !a.Users.Check(user, pass) {
		writeJSONError(w, http.StatusUnauthorized, "UNAUTHORIZED", "invalid username or password")
		return
	}
	if service != "" && service != a.Tokens.Service {
		writeJSONError(w, http.StatusBadRequest, "DENIED", fmt.Sprintf("service %q is not this registry's (%q)", service, a.Tokens.Service))
		return
	}
	var access []ResourceActions
	var granted []string
	for _, s := range scopes {
		// A space-separated list in one parameter is allowed too.
		for _, one := range strings.Fields(s) {
			ra, err := ParseScope(one)
			if err != nil {
				writeJSONError(w, http.StatusBadRequest, "invalid_scope", err.Error())
				return
			}
			repo := ra.Name
			if ra.Type == "registry" && ra.Name == "catalog" {
				repo = ""
			} else if ra.Type != "repository" {
				continue
			}
			ok := ResourceActions{Type: ra.Type, Name: ra.Name}
			for _, act := range ra.Actions {
				if Allowed(user, repo, act) {
					ok.Actions = append(ok.Actions, act)
				}
			}
			if len(ok.Actions) > 0 {
				access = append(access, ok)
				granted = append(granted, ok.String())
			}
		}
	}
	tok, issued, err := a.Tokens.Issue(user, access)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(tokenResponse{Token: tok, AccessToken: tok, ExpiresIn: int(TokenTTL / time.Second),
		IssuedAt: issued.Format(time.RFC3339), Scope: strings.Join(granted, " ")})
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}
