package store

import (
	"context"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServiceAuthPutAndRemove(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())

	svc := &swarm.Service{Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "web"}}}
	op, err := s.Services().CreateOp(svc)
	require.NoError(t, err)
	auth := &ServiceAuth{ID: svc.ID, RegistryAuth: "abc"}
	put, err := s.ServiceAuths().PutOp(auth)
	require.NoError(t, err)
	require.NoError(t, s.Commit(ctx, op, put))

	got, err := s.ServiceAuths().Get(ctx, svc.ID)
	require.NoError(t, err)
	assert.Equal(t, "abc", got.RegistryAuth)
	// The service record does not carry it.
	stored, err := s.Services().Get(ctx, svc.ID)
	require.NoError(t, err)

	// Put replaces whatever is there, in a transaction with a versioned
	// update that decides for both.
	stored.Spec.Labels = map[string]string{"a": "b"}
	up, err := s.Services().UpdateOp(stored)
	require.NoError(t, err)
	put, err = s.ServiceAuths().PutOp(&ServiceAuth{ID: svc.ID, RegistryAuth: "def", PreviousRegistryAuth: "abc"})
	require.NoError(t, err)
	require.NoError(t, s.Commit(ctx, up, put))
	got, err = s.ServiceAuths().Get(ctx, svc.ID)
	require.NoError(t, err)
	assert.Equal(t, "def", got.RegistryAuth)
	assert.Equal(t, "abc", got.PreviousRegistryAuth)

	stale, err := s.Services().UpdateOp(&swarm.Service{ID: svc.ID, Meta: swarm.Meta{Version: swarm.Version{Index: 1}}})
	require.NoError(t, err)
	put, err = s.ServiceAuths().PutOp(&ServiceAuth{ID: svc.ID, RegistryAuth: "lost"})
	require.NoError(t, err)
	assert.True(t, errdefs.IsConflict(s.Commit(ctx, stale, put)))
	got, err = s.ServiceAuths().Get(ctx, svc.ID)
	require.NoError(t, err)
	assert.Equal(t, "def", got.RegistryAuth)

	// Remove works with and without a record.
	require.NoError(t, s.Commit(ctx, s.Services().DeleteOp(svc.ID, 0), s.ServiceAuths().RemoveOp(svc.ID)))
	_, err = s.ServiceAuths().Get(ctx, svc.ID)
	assert.True(t, errdefs.IsNotFound(err), "%v", err)
	other := &swarm.Service{Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "db"}}}
	require.NoError(t, s.Services().Create(ctx, other))
	require.NoError(t, s.Commit(ctx, s.Services().DeleteOp(other.ID, 0), s.ServiceAuths().RemoveOp(other.ID)))
}
