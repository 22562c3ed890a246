package auth

import "strings"

// Actions a scope may ask for.
const (
	ActionPull   = "pull"
	ActionPush   = "push"
	ActionDelete = "delete"
	ActionAll    = "*" // registry:catalog:*
)

// Allowed is the registry's policy (see the package doc): may user do
// action on repository repo ("" for the registry itself: the catalog)?
func Allowed(user, repo, action string) bool {
	if user == "" {
		return false
	}
	switch action {
	case ActionPull:
		return true
	case ActionAll:
		return repo == "" // registry:catalog:*
	case ActionPush, ActionDelete:
		return strings.HasPrefix(repo, user+"/")
	}
	return false
}
