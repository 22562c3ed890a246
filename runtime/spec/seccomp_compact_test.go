package spec

import (
	"math"
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
	assert.Less(t, len(compact.Syscalls), len(orig.Syscalls)-5, "socket's address families merge")

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

func TestAlignedBlocks(t *testing.T) {
	assert.Equal(t, []block{{7, 1}, {8, 2}, {10, 1}, {28, 4}}, alignedBlocks([]uint64{28, 29, 30, 31, 7, 8, 9, 10}))
	assert.Equal(t, []block{{0, 8}}, alignedBlocks([]uint64{0, 1, 2, 3, 4, 5, 6, 7}))
	assert.Equal(t, []block{{1, 1}, {2, 2}, {4, 1}}, alignedBlocks([]uint64{1, 2, 3, 4}))
	assert.Equal(t, []block{{math.MaxUint64 - 1, 2}}, alignedBlocks([]uint64{math.MaxUint64, math.MaxUint64 - 1}))
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
