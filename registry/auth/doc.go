// Package auth guards wharf's registry: users from an htpasswd file
// (bcrypt entries, as `htpasswd -B` writes them) sign in with HTTP Basic
// credentials. Anyone signed in may pull every repository; a user may push
// only below their own name (alice may push alice/…), so a shared registry
// keeps users from overwriting each other.
package auth
