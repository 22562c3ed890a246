package spec

import (
	"math"
	"math/bits"
	"slices"
	"testing"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// allows reports whether rules let call name through with first argument v,
// as the kernel filter runc builds from them would.
func allows(rules []specs.LinuxSyscall, name string, v uint64) bool {
	for _, r := range rules {
		if r.Action != specs.ActAllow || !contains(r.Names, name) {
			continue
		}
		if len(r.Args) == 0 {
			return true
		}
		ok := true
		for _, a := range r.Args {
			require := func(b bool) { ok = ok && b }
			switch a.Op {
			case specs.OpEqualTo:
				require(v == a.Value)
			case specs.OpNotEqual:
				require(v != a.Value)
			case specs.OpLessThan:
				require(v < a.Value)
			case specs.OpMaskedEqual:
				require(v&a.Value == a.ValueTwo)
			default:
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestCompactEqualityRulesKeepsTheDefaultProfilesMeaning(t *testing.T) {
	s := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}}
	orig, err := seccomp.GetDefaultProfile(s)
	require.NoError(t, err)
	compact, err := seccomp.GetDefaultProfile(s)
	require.NoError(t, err)
	compactEqualityRules(compact)
	sockets := func(rules []specs.LinuxSyscall) int {
		return len(slices.DeleteFunc(slices.Clone(rules), func(r specs.LinuxSyscall) bool { return !contains(r.Names, "socket") }))
	}
	assert.Equal(t, 12, sockets(compact.Syscalls), "socket's address families merge (from %d rules)", sockets(orig.Syscalls))

	var probes []uint64
	for v := uint64(0); v < 1024; v++ {
		probes = append(probes, v)
	}
	for _, hi := range []uint64{1 << 31, 1 << 32, 1 << 63, math.MaxUint64 - 63} {
		for v := uint64(0); v < 64; v++ {
			probes = append(probes, hi+v)
		}
	}
	for _, name := range []string{"socket", "personality", "clone", "read"} {
		for _, v := range probes {
			require.Equal(t, allows(orig.Syscalls, name, v), allows(compact.Syscalls, name, v), "%s(%d)", name, v)
		}
	}
}

func TestSubcubeCover(t *testing.T) {
	for _, tc := range []struct {
		values []uint64
		want   int
	}{
		{[]uint64{28, 29, 30, 31, 7, 8, 9, 10}, 4},        // {28–31}, {7}, and two of {8, 9}, {8, 10}, {9}, {10}
		{[]uint64{0, 1, 2, 3, 4, 5, 6, 7}, 1},             // 0 with bits 0–2 free
		{[]uint64{0, 8, 0x20000, 0x20008, 0xffffffff}, 2}, // personality(2)'s values
		{[]uint64{math.MaxUint64, math.MaxUint64 - 1}, 1},
		{[]uint64{5}, 1},
		// socket(2)'s address families in the default profile
		{[]uint64{0, 1, 2, 7, 8, 9, 10, 13, 14, 15, 16, 17, 18, 21, 22, 24, 26, 27, 28, 29, 30, 31, 32, 33, 35, 36, 39, 41, 42, 43, 44, 45}, 12},
	} {
		cubes := subcubeCover(tc.values)
		assert.Len(t, cubes, tc.want, "%v → %v", tc.values, cubes)
		assertExactCover(t, tc.values, cubes)
	}
	assert.Empty(t, subcubeCover(nil))
}

// assertExactCover checks that the cubes match the values and nothing else,
// probing every value the cubes hold (they are small) and the set's members.
func assertExactCover(t *testing.T, values []uint64, cubes []cube) {
	t.Helper()
	in := map[uint64]bool{}
	for _, v := range values {
		in[v] = true
	}
	for v := range in {
		require.True(t, slices.ContainsFunc(cubes, func(c cube) bool { return c.contains(v) }), "%d not covered by %v", v, cubes)
	}
	for _, c := range cubes {
		require.Equal(t, c.value, c.value&^c.free, "cube %v", c)
		require.LessOrEqual(t, bits.OnesCount64(c.free), 16, "cube %v", c)
		for sub := c.free; ; sub = (sub - 1) & c.free { // every combination of the free bits
			require.True(t, in[c.value|sub], "cube %v holds %d, not in the set", c, c.value|sub)
			if sub == 0 {
				break
			}
		}
	}
}

// FuzzSubcubeCover: whatever the values, the cover matches exactly them.
func FuzzSubcubeCover(f *testing.F) {
	f.Add([]byte{0, 1, 2, 7, 8, 9, 10, 13, 14, 15, 16, 17, 18, 21, 22, 24, 26, 27, 28})
	f.Add([]byte{255, 254, 128, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 48 {
			b = b[:48]
		}
		values := make([]uint64, len(b))
		for i, x := range b {
			values[i] = uint64(x) << (x % 7) // spread over more bits than a byte
		}
		assertExactCover(t, values, subcubeCover(values))
	})
}

// Rules that differ in more than the value, or are not adjacent, stay apart.
func TestCompactEqualityRulesLeavesOthers(t *testing.T) {
	eq := func(name string, action specs.LinuxSeccompAction, v uint64) specs.LinuxSyscall {
		return specs.LinuxSyscall{Names: []string{name}, Action: action, Args: []specs.LinuxSeccompArg{{Index: 0, Value: v, Op: specs.OpEqualTo}}}
	}
	sc := &specs.LinuxSeccomp{Syscalls: []specs.LinuxSyscall{
		eq("socket", specs.ActAllow, 2), eq("socket", specs.ActErrno, 3), eq("socket", specs.ActAllow, 3),
		{Names: []string{"read", "write"}, Action: specs.ActAllow},
	}}
	compactEqualityRules(sc)
	require.Len(t, sc.Syscalls, 4)
	assert.Equal(t, specs.ActErrno, sc.Syscalls[1].Action)

	sc.Syscalls = []specs.LinuxSyscall{eq("socket", specs.ActAllow, 2), eq("socket", specs.ActAllow, 3), eq("bind", specs.ActAllow, 4)}
	compactEqualityRules(sc)
	require.Len(t, sc.Syscalls, 2)
	assert.Equal(t, specs.OpMaskedEqual, sc.Syscalls[0].Args[0].Op)
	assert.Equal(t, uint64(2), sc.Syscalls[0].Args[0].ValueTwo)
	assert.Equal(t, []string{"bind"}, sc.Syscalls[1].Names)
}
