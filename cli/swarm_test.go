package cli

import (
	"context"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeLockedSwarm is a swarm whose managers autolock (or not), with an
// unlock key that SwarmUpdate rotates when asked.
type fakeLockedSwarm struct {
	*fakeSwarmAPI
	autolock bool
	key      string
	updates  []client.SwarmUpdateOptions
}

func (f *fakeLockedSwarm) SwarmInspect(context.Context, client.SwarmInspectOptions) (client.SwarmInspectResult, error) {
	var sw swarm.Swarm
	sw.Spec.EncryptionConfig.AutoLockManagers = f.autolock
	return client.SwarmInspectResult{Swarm: sw}, nil
}

func (f *fakeLockedSwarm) SwarmUpdate(_ context.Context, o client.SwarmUpdateOptions) (client.SwarmUpdateResult, error) {
	f.updates = append(f.updates, o)
	if o.RotateManagerUnlockKey {
		f.key += "-rotated"
	}
	return client.SwarmUpdateResult{}, nil
}

func (f *fakeLockedSwarm) SwarmGetUnlockKey(context.Context) (client.SwarmGetUnlockKeyResult, error) {
	return client.SwarmGetUnlockKeyResult{Key: f.key}, nil
}

func TestSwarmUnlockKeyRotate(t *testing.T) {
	api := &fakeLockedSwarm{fakeSwarmAPI: newFakeSwarm(), autolock: true, key: "SWMKEY-1"}
	out, _, err := runCLI(t, api, "swarm", "unlock-key", "--rotate")
	require.NoError(t, err)
	require.Len(t, api.updates, 1)
	assert.True(t, api.updates[0].RotateManagerUnlockKey)
	assert.Contains(t, out, "Successfully rotated manager unlock key.\n\n")
	assert.Contains(t, out, "    SWMKEY-1-rotated\n", "the new key is the one printed")

	out, _, err = runCLI(t, api, "swarm", "unlock-key", "-q", "--rotate")
	require.NoError(t, err)
	assert.Equal(t, "SWMKEY-1-rotated-rotated\n", out)

	off := &fakeLockedSwarm{fakeSwarmAPI: newFakeSwarm(), key: "SWMKEY-1"}
	_, _, err = runCLI(t, off, "swarm", "unlock-key", "--rotate")
	require.ErrorContains(t, err, "autolock is not turned on")
	assert.Empty(t, off.updates)
}

// failingNetworkList is a swarm whose network listing fails.
type failingNetworkList struct{ *fakeSwarmAPI }

func (failingNetworkList) NetworkList(context.Context, client.NetworkListOptions) (client.NetworkListResult, error) {
	return client.NetworkListResult{}, errdefs.ErrUnavailable
}

func TestStackRmListFailureRemovesNothing(t *testing.T) {
	f := newFakeSwarm()
	ns := map[string]string{labelNamespace: "lab"}
	f.services["s1"] = swarm.Service{ID: "s1", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "lab_web", Labels: ns}}}
	f.networks = []network.Summary{{Network: network.Network{Name: "lab_default", ID: "n1", Labels: ns}}}
	_, errOut, err := runCLI(t, failingNetworkList{f}, "stack", "rm", "lab")
	require.ErrorIs(t, err, errdefs.ErrUnavailable)
	assert.NotContains(t, errOut, "Nothing found")
	assert.Empty(t, f.calls, "no service or network removed")
}
