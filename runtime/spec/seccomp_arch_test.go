package spec

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stretchr/testify/assert"
)

func TestDropUnreachableArches(t *testing.T) {
	saved := x32Reachable
	t.Cleanup(func() { x32Reachable = saved })
	profile := func() *specs.LinuxSeccomp {
		return &specs.LinuxSeccomp{Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}}
	}

	x32Reachable = func() bool { return false }
	sc := profile()
	dropUnreachableArches(sc)
	assert.Equal(t, []specs.Arch{specs.ArchX86_64, specs.ArchX86}, sc.Architectures, "x32 goes, native and i386 stay")

	x32Reachable = func() bool { return true }
	sc = profile()
	dropUnreachableArches(sc)
	assert.Equal(t, profile().Architectures, sc.Architectures, "a kernel that runs x32 keeps its rules")

	dropUnreachableArches(nil) // unconfined: nothing to do, no panic
}
