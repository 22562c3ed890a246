package cluster

import (
	"encoding/json"
	"net/http"

	"wharf.io/wharf/cluster/ca"
)

// HandleManagerAPI adds a route to the mTLS endpoint managers serve on the
// listen address (the dispatcher and join will live there). Handlers see
// only callers with a certificate from this swarm's CA; ca.PeerIdentity
// (r.TLS) says which node and role is calling.
func (c *Cluster) HandleManagerAPI(pattern string, h http.Handler) { c.mux.Handle(pattern, h) }

// checkCluster refuses certificates of another cluster signed by the same
// root (which cannot happen today, but a root is cheap to share by mistake).
func (c *Cluster) checkCluster(m *member, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := ca.PeerIdentity(r.TLS)
		if err != nil || id.ClusterID != m.ClusterID {
			http.Error(w, "not a node of this swarm", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// whoami tells a node how the manager sees it: a check that mTLS works.
func (c *Cluster) whoami(w http.ResponseWriter, r *http.Request) {
	id, err := ca.PeerIdentity(r.TLS)
	if err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(id)
}
