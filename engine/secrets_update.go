package engine

import (
	"bytes"
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
)

// SecretUpdate implements POST /secrets/{id}/update. Like swarmkit it only
// changes labels: a new name or different data is refused, and version must
// be the secret's current one (the store answers Conflict otherwise).
func (e *Engine) SecretUpdate(ctx context.Context, ref string, version uint64, spec swarm.SecretSpec) error {
	st, err := e.clusterStore()
	if err != nil {
		return err
	}
	cur, err := secretKind.find(ctx, st, ref)
	if err != nil {
		return err
	}
	if spec.Name != cur.Spec.Name || (spec.Data != nil && !bytes.Equal(spec.Data, cur.Spec.Data)) {
		return errLabelsOnly
	}
	cur.Version.Index = version
	cur.Spec.Labels = spec.Labels
	return st.Secrets().Update(ctx, cur)
}

// ConfigUpdate implements POST /configs/{id}/update with SecretUpdate's rules.
func (e *Engine) ConfigUpdate(ctx context.Context, ref string, version uint64, spec swarm.ConfigSpec) error {
	st, err := e.clusterStore()
	if err != nil {
		return err
	}
	cur, err := configKind.find(ctx, st, ref)
	if err != nil {
		return err
	}
	if spec.Name != cur.Spec.Name || (spec.Data != nil && !bytes.Equal(spec.Data, cur.Spec.Data)) {
		return errLabelsOnly
	}
	cur.Version.Index = version
	cur.Spec.Labels = spec.Labels
	return st.Configs().Update(ctx, cur)
}

var errLabelsOnly = fmt.Errorf("rpc error: code = InvalidArgument desc = only updates to Labels are allowed: %w", errdefs.ErrInvalidArgument)
