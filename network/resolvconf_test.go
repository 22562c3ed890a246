package network

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResolvConfForBridge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	m := &Manager{cfg: Config{ResolvConf: p}, eps: map[string]map[string]*epRecord{}, networks: map[string]*netRecord{}}
	require.NoError(t, os.WriteFile(p, []byte("nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions ndots:2\n"), 0o644))
	assert.Equal(t, "nameserver 10.0.0.2\nsearch corp.example\noptions ndots:2\n", string(m.ResolvConf("c")))
	require.NoError(t, os.WriteFile(p, []byte("nameserver 127.0.0.53\n"), 0o644))
	assert.Equal(t, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n", string(m.ResolvConf("c")), "loopback-only hosts fall back")
	m.networks["n"] = &netRecord{ID: "n", Name: "appnet", Driver: "bridge"}
	m.eps["c"] = map[string]*epRecord{"n": {NetworkID: "n"}}
	assert.Equal(t, "nameserver 127.0.0.11\noptions ndots:0\n", string(m.ResolvConf("c")))
}
