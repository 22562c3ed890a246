package spec

import (
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// compactEqualityRules rewrites runs of adjacent rules that allow one system
// call for single argument values (the default profile allows socket(2) for
// 32 address families in 29 rules: one "< 3" and one equality each for the
// rest) into as few rules as keep exactly the same set of values. Each new
// rule is one masked comparison, (arg & mask) == value, that matches a
// "subcube" of the set: the values that agree with value outside a few free
// bits, e.g. {9, 13, 41, 45} = 9 with bits 2 and 5 free. runc compiles every
// rule once per architecture with libseccomp at each container start, and
// the socket rules cost the most of all there (x86_64 with x86: ~3 ms of the
// ~9 ms the default profile takes to compile); as 12 subcubes instead they
// cost a third of that. Rules are merged only when they differ in nothing
// but the compared values.
func compactEqualityRules(sc *specs.LinuxSeccomp) {
	if sc == nil {
		return
	}
	var out []specs.LinuxSyscall
	for i := 0; i < len(sc.Syscalls); {
		r := sc.Syscalls[i]
		k, ok := valueRuleKey(r)
		j := i + 1
		for ok && j < len(sc.Syscalls) {
			if kj, okj := valueRuleKey(sc.Syscalls[j]); !okj || kj != k {
				break
			}
			j++
		}
		var values []uint64
		if ok && j > i+1 {
			for _, x := range sc.Syscalls[i:j] {
				values = append(values, ruleValues(x.Args[0])...)
			}
		}
		cubes := subcubeCover(values)
		if len(cubes) == 0 || len(cubes) >= j-i {
			out = append(out, sc.Syscalls[i:j]...)
			i = j
			continue
		}
		for _, c := range cubes {
			nr := r
			nr.Names = slices.Clone(r.Names)
			arg := r.Args[0]
			if c.free == 0 {
				arg.Op, arg.Value, arg.ValueTwo = specs.OpEqualTo, c.value, 0
			} else {
				arg.Op, arg.Value, arg.ValueTwo = specs.OpMaskedEqual, ^c.free, c.value
			}
			nr.Args = []specs.LinuxSeccompArg{arg}
			out = append(out, nr)
		}
		i = j
	}
	sc.Syscalls = out
}

// maxLessThan bounds the "arg < n" rules compactEqualityRules takes in: their
// n values are spelled out.
const maxLessThan = 64

// valueRuleKey identifies the rules compactEqualityRules may merge: one
// system call, one comparison of an argument against a small set of values
// (equality, or "<" a small bound), nothing else that could differ.
func valueRuleKey(r specs.LinuxSyscall) (string, bool) {
	if len(r.Names) != 1 || len(r.Args) != 1 {
		return "", false
	}
	switch a := r.Args[0]; {
	case a.Op == specs.OpEqualTo:
	case a.Op == specs.OpLessThan && a.Value <= maxLessThan:
	default:
		return "", false
	}
	errno := "-"
	if r.ErrnoRet != nil {
		errno = fmt.Sprint(*r.ErrnoRet)
	}
	return fmt.Sprintf("%s/%s/%s/%d", r.Names[0], r.Action, errno, r.Args[0].Index), true
}

// ruleValues lists the values a comparison accepted by valueRuleKey matches.
func ruleValues(a specs.LinuxSeccompArg) []uint64 {
	if a.Op == specs.OpEqualTo {
		return []uint64{a.Value}
	}
	vs := make([]uint64, a.Value)
	for v := range vs {
		vs[v] = uint64(v)
	}
	return vs
}

// A cube is the set of values v with v &^ free == value (value &^ free ==
// value): value with any combination of the free bits set.
type cube struct{ value, free uint64 }

func (c cube) contains(v uint64) bool { return v&^c.free == c.value }

// maxCoverSearch bounds the search for the fewest cubes; past it the best
// cover found so far, or a greedy one, is taken (exact in the values it
// matches, maybe not the fewest cubes).
const maxCoverSearch = 100000

// covers remembers subcubeCover's answers (~0.7 ms for socket(2)'s values,
// at every container start otherwise) by the set of values.
// Profiles given with --security-opt add their own sets: at most
// maxCoversKept are remembered.
var (
	covers     sync.Map // fmt.Sprint(sorted values) → []cube
	coversKept atomic.Int64
)

const maxCoversKept = 64

// subcubeCover returns few cubes whose union is exactly the set of values:
// the prime cubes of the set (Quine–McCluskey: merge cubes that differ in one
// bit until none do), of which as few are picked as cover every value.
func subcubeCover(values []uint64) []cube {
	vs := slices.Clone(values)
	slices.Sort(vs)
	vs = slices.Compact(vs)
	if len(vs) == 0 {
		return nil
	}
	key := fmt.Sprint(vs)
	if c, ok := covers.Load(key); ok {
		return slices.Clone(c.([]cube))
	}
	c := primeCover(vs)
	if coversKept.Add(1) <= maxCoversKept {
		covers.Store(key, c)
	}
	return slices.Clone(c)
}

// primeCover is subcubeCover without memory, for sorted distinct values.
func primeCover(vs []uint64) []cube {
	var primes []cube
	level := make([]cube, len(vs))
	for i, v := range vs {
		level[i] = cube{value: v}
	}
	for len(level) > 0 {
		merged := make([]bool, len(level))
		var next []cube
		for a := range level {
			for b := a + 1; b < len(level); b++ {
				ca, cb := level[a], level[b]
				diff := ca.value ^ cb.value
				if ca.free != cb.free || bits.OnesCount64(diff) != 1 {
					continue
				}
				merged[a], merged[b] = true, true
				c := cube{value: ca.value &^ diff, free: ca.free | diff}
				if !slices.Contains(next, c) {
					next = append(next, c)
				}
			}
		}
		for i, c := range level {
			if !merged[i] {
				primes = append(primes, c)
			}
		}
		level = next
	}
	return pickCover(vs, primes)
}

// pickCover chooses as few of the cubes as cover every value: an exhaustive
// search (branching on the cubes that hold the first value not yet covered)
// within maxCoverSearch steps, else a greedy pick.
func pickCover(vs []uint64, cubes []cube) []cube {
	var best []cube
	steps := 0
	var search func(chosen []cube)
	search = func(chosen []cube) {
		steps++
		if steps > maxCoverSearch || (best != nil && len(chosen) >= len(best)) {
			return
		}
		first, covered := uint64(0), true
		for _, v := range vs {
			if !slices.ContainsFunc(chosen, func(c cube) bool { return c.contains(v) }) {
				first, covered = v, false
				break
			}
		}
		if covered {
			best = slices.Clone(chosen)
			return
		}
		for _, c := range cubes {
			if c.contains(first) {
				search(append(chosen, c))
			}
		}
	}
	search(nil)
	if best != nil {
		return best
	}
	// Greedy: the cube covering most of what is left, until nothing is.
	var out []cube
	left := slices.Clone(vs)
	for len(left) > 0 {
		bestN, bestC := 0, cube{}
		for _, c := range cubes {
			n := 0
			for _, v := range left {
				if c.contains(v) {
					n++
				}
			}
			if n > bestN {
				bestN, bestC = n, c
			}
		}
		out = append(out, bestC)
		left = slices.DeleteFunc(left, bestC.contains)
	}
	return out
}
