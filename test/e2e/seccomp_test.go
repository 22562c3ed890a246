//go:build linux

package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSeccompSocketFamilies: the default seccomp profile, as runc loads it
// from wharf's bundle (its socket rules merged into masked comparisons, see
// runtime/spec), lets a container open sockets of the families Docker
// allows and refuses the others (AF_ALG, AF_VSOCK, unknown ones) with EPERM.
func TestSeccompSocketFamilies(t *testing.T) {
	begin(t)
	probe := buildTestdata(t, "socketprobe")

	allowed := []int{1, 2, 7, 8, 9, 10, 13, 14, 15, 16, 17, 18, 21, 22, 24, 26, 27, 28, 29, 30, 31, 32, 33, 35, 36, 39, 41, 42, 43, 44, 45}
	refused := []int{3, 4, 5, 6, 11, 12, 19, 20, 23, 25, 34, 37, 38, 40, 46, 47, 64, 1000}
	var args []string
	for _, f := range append(append([]int{}, allowed...), refused...) {
		args = append(args, fmt.Sprint(f))
	}
	got := map[string]string{}
	for _, line := range lines(mustWharf(t, append([]string{"run", "--rm", "--network", "none", "-v", probe + ":/socketprobe:ro", busybox, "/socketprobe"}, args...)...)) {
		f := strings.Fields(line)
		require.Len(t, f, 2, line)
		got[f[0]] = f[1]
	}
	eperm := fmt.Sprint(int(syscall.EPERM))
	for _, f := range allowed {
		assert.NotEqual(t, eperm, got[fmt.Sprint(f)], "family %d must pass the filter", f)
	}
	for _, f := range refused {
		assert.Equal(t, eperm, got[fmt.Sprint(f)], "family %d must be refused", f)
	}
	// Unconfined lets everything through to the kernel.
	out2 := mustWharf(t, "run", "--rm", "--network", "none", "--security-opt", "seccomp=unconfined", "-v", probe+":/socketprobe:ro", busybox, "/socketprobe", "40", "1000")
	assert.NotContains(t, out2, " "+eperm+"\n", "unconfined: %s", out2)
}
