// Package auth guards wharf's registry. Users come from an htpasswd file
// (bcrypt entries, as `htpasswd -B` writes them) and sign in with HTTP Basic
// credentials, either on every request or once at the token endpoint, which
// answers with a JWT the registry signs with its own key (the Docker token
// flow: 401 + `WWW-Authenticate: Bearer realm=…,service=…,scope=…`, then
// GET <realm>?service=…&scope=… with Basic credentials).
//
// Permissions are per repository and deliberately simple: every signed-in
// user may pull every repository and list the catalog; a user may push to
// (and delete from) only the repositories below their own name — alice may
// push alice/app and alice/team/app, not bob/app or app. Anything else is
// 403 DENIED (with error="insufficient_scope" in the Bearer challenge).
package auth
