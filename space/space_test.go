package space

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// convSpace has two conv stages; the expansion and SE lists are there for
// the conv family to ignore.
const convSpace = `{
  "version": 1, "name": "convtest", "input": [1, 16, 16], "classes": 10,
  "stem": [{"type": "conv", "out": 8, "kernel": 3}],
  "stages": [
    {"stride": 2, "blocks": ["conv"], "kernels": [1, 3], "expansions": [3, 6], "se": [0, 0.25], "acts": ["relu", "hswish"], "widths": [8, 12, 16], "depths": [1, 2]},
    {"stride": 2, "blocks": ["conv"], "kernels": [3, 5], "acts": ["relu"], "widths": [16, 32], "depths": [1, 2, 3]}
  ],
  "head": [{"type": "gap"}, {"type": "linear"}]
}`

func mustSpace(t *testing.T, js string) *Space {
	t.Helper()
	s, err := ParseSpaceJSON([]byte(js))
	require.NoError(t, err)
	return s
}

// allChoices enumerates every choice vector of the space.
func allChoices(s *Space) [][]int {
	card := s.Cardinalities()
	out := [][]int{{}}
	for _, n := range card {
		var next [][]int
		for _, c := range out {
			for v := range n {
				next = append(next, append(append([]int(nil), c...), v))
			}
		}
		out = next
	}
	return out
}

func TestSpaceDecisions(t *testing.T) {
	s := mustSpace(t, convSpace)
	d := s.Decisions()
	require.Len(t, d, 14)
	require.Equal(t, Decision{Name: "stage0.kernel", Options: []string{"1", "3"}}, d[1])
	require.Equal(t, Decision{Name: "stage0.se", Options: []string{"0", "0.25"}}, d[3])
	require.Equal(t, Decision{Name: "stage1.expansion", Options: []string{"-"}}, d[9])
	require.Equal(t, []int{1, 2, 2, 2, 2, 3, 2, 1, 2, 1, 1, 1, 2, 3}, s.Cardinalities())
}

// The brute force over every choice vector agrees with Cardinality,
// Canonical, Key and CostRange.
func TestSpaceBruteForce(t *testing.T) {
	s := mustSpace(t, convSpace)
	keys := map[string][]int{}
	var want CostRange
	for _, c := range allChoices(s) {
		a, err := s.Arch(c)
		require.NoError(t, err)
		key := a.String()
		canon, err := s.Canonical(c)
		require.NoError(t, err)
		if prev, ok := keys[key]; ok {
			require.Equal(t, prev, canon, "vectors with the same network must have the same canonical form")
			continue
		}
		keys[key] = canon
		k, err := s.Key(canon)
		require.NoError(t, err)
		require.Equal(t, key, k)
		cost, err := a.Cost()
		require.NoError(t, err)
		want = merge(want, CostRange{cost.Params, cost.Params, cost.MACs, cost.MACs, 1})
	}
	// stage 0: 2 kernels x 2 acts x 3 widths x 2 depths; stage 1: 2 x 2 x 3.
	require.Equal(t, int64(24*12), s.Cardinality().Int64())
	require.Len(t, keys, 24*12)
	got, err := s.CostRange()
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.InDelta(t, 2.459, s.Log10Cardinality(), 1e-3)
}

func TestSpaceSampleUniform(t *testing.T) {
	s := mustSpace(t, convSpace)
	rng := rand.New(rand.NewPCG(1, 2))
	counts := map[string]int{}
	const draws = 288 * 40
	for range draws {
		c, a, err := s.Sample(rng)
		require.NoError(t, err)
		canon, _ := s.Canonical(c)
		require.Equal(t, canon, c, "samples are canonical")
		counts[a.String()]++
	}
	require.Len(t, counts, 288)
	for k, n := range counts {
		// Expected 40 each; a binomial that strays below 10 or above 90 has
		// probability far below 1e-9.
		require.True(t, n > 10 && n < 90, "%s drawn %d times", k, n)
	}
}

func TestSpaceSampleFair(t *testing.T) {
	s, err := LoadSpace("small28")
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(7, 8))
	// A step of as many networks as a stage has families deals each family
	// of every stage out exactly once.
	for range 50 {
		nets, err := s.SampleFair(rng, 5)
		require.NoError(t, err)
		require.Len(t, nets, 5)
		for i, st := range s.Stages {
			seen := map[int]int{}
			for _, c := range nets {
				canon, err := s.Canonical(c)
				require.NoError(t, err)
				require.Equal(t, canon, c, "samples are canonical")
				seen[c[i*decisionsPerStage]]++
			}
			require.Len(t, seen, len(st.Blocks), "stage %d: %v", i, seen)
		}
	}
	// One network per step: each stage's family is uniform, where Sample
	// draws fire (one option besides width and depth against ir's 16) a
	// few times in a hundred.
	const draws = 4000
	fair, uniform := make([]int, len(s.Stages[0].Blocks)), make([]int, len(s.Stages[0].Blocks))
	for range draws {
		nets, err := s.SampleFair(rng, 1)
		require.NoError(t, err)
		fair[nets[0][0]]++
		c, _, err := s.Sample(rng)
		require.NoError(t, err)
		uniform[c[0]]++
	}
	for f, n := range fair {
		// Expected 1,000 each: outside 850 to 1,150 has probability below 1e-6.
		require.True(t, n > 850 && n < 1150, "family %s drawn %d times in %d", s.Stages[0].Blocks[f], n, draws)
	}
	fire := slices.Index(s.Stages[0].Blocks, "fire")
	require.Less(t, uniform[fire], draws/10, "Sample draws fire %d times in %d", uniform[fire], draws)
	// The same seed draws the same networks.
	a, err := s.SampleFair(rand.New(rand.NewPCG(1, 2)), 3)
	require.NoError(t, err)
	b, err := s.SampleFair(rand.New(rand.NewPCG(1, 2)), 3)
	require.NoError(t, err)
	require.Equal(t, a, b)
}

func TestSpaceMutate(t *testing.T) {
	s := mustSpace(t, convSpace)
	rng := rand.New(rand.NewPCG(3, 4))
	c, a, err := s.Sample(rng)
	require.NoError(t, err)
	for range 500 {
		next, b, err := s.Mutate(c, rng)
		require.NoError(t, err)
		require.NotEqual(t, a.String(), b.String())
		diff := 0
		for i := range c {
			if c[i] != next[i] {
				diff++
			}
		}
		require.Equal(t, 1, diff, "%v -> %v", c, next)
		c, a = next, b
	}
	// A vector with ignored decisions set is accepted and mutated from its
	// canonical form.
	c[2], c[3] = 1, 1
	next, _, err := s.Mutate(c, rng)
	require.NoError(t, err)
	require.Zero(t, next[2])
	require.Zero(t, next[3])
}

func TestSpaceSampleRejects(t *testing.T) {
	// A head conv with 2 groups needs an even input; every width is odd.
	s := mustSpace(t, `{"version":1,"input":[1,8,8],"classes":4,"stages":[
	  {"blocks":["conv"],"kernels":[3],"acts":["relu"],"widths":[3,5],"depths":[1]}],
	  "head":[{"type":"conv","out":8,"kernel":1,"groups":2},{"type":"gap"},{"type":"linear"}]}`)
	_, _, err := s.Sample(rand.New(rand.NewPCG(1, 1)))
	require.ErrorContains(t, err, "no valid network in 100 samples")
	require.ErrorContains(t, err, "groups 2 must divide input channels")
	_, err = s.CostRange()
	require.ErrorContains(t, err, "no network of the space fits its head")
}

func TestSpaceChoiceErrors(t *testing.T) {
	s := mustSpace(t, convSpace)
	_, err := s.Arch([]int{0, 1})
	require.ErrorContains(t, err, "choice vector has 2 entries, want 14")
	c := make([]int, 14)
	c[5] = 3
	_, err = s.Arch(c)
	require.ErrorContains(t, err, "choice 5 (stage0.width) is 3, want 0 to 2")
	c[5] = -1
	_, _, err = s.Mutate(c, rand.New(rand.NewPCG(1, 1)))
	require.ErrorContains(t, err, "stage0.width")
}

func TestSpaceHeadClasses(t *testing.T) {
	s := mustSpace(t, convSpace)
	a, err := s.Arch(make([]int, 14))
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(a.String(), "| gap | linear_o10"), a.String())
	// The head specs of the space are not changed by building.
	require.Equal(t, "linear", BlockString(s.Head[1]))
	_, err = ParseSpaceJSON([]byte(strings.Replace(convSpace, `{"type": "linear"}`, `{"type": "linear", "out": 7}`, 1)))
	require.ErrorContains(t, err, `head: the last head layer has 7 outputs but the space has 10 classes`)
	_, err = ParseSpaceJSON([]byte(strings.Replace(convSpace, `{"type": "linear"}`, `{"type": "dropout", "p": 20}`, 1)))
	require.ErrorContains(t, err, "has no output channels to set to the classes")
}

func TestParseSpaceJSONErrors(t *testing.T) {
	tests := []struct {
		name, old, new, path, msg string
	}{
		{"unknown family", `"blocks": ["conv"], "kernels": [1, 3]`, `"blocks": ["conv", "resnet"], "kernels": [1, 3]`, "stages[0].blocks[1]", `unknown block family "resnet" (known: conv`},
		{"missing kernels", `"kernels": [1, 3], `, ``, "stages[0].kernels", "missing: the conv family needs a list of kernel options"},
		{"duplicate width", `[8, 12, 16]`, `[8, 12, 8]`, "stages[0].widths[2]", "8 is listed twice"},
		{"zero depth", `"depths": [1, 2]`, `"depths": [0, 2]`, "stages[0].depths[0]", "depth 0 must be between 1 and 64"},
		{"bad act", `"acts": ["relu"]`, `"acts": ["gelu"]`, "stages[1].acts[0]", `unknown activation "gelu"`},
		{"bad se", `"se": [0, 0.25]`, `"se": [0, 1.5]`, "stages[0].se[1]", "SE ratio 1.5 must be between 0"},
		{"unknown stage key", `"stride": 2, "blocks": ["conv"], "kernels": [3, 5]`, `"stride": 2, "block": ["conv"], "kernels": [3, 5]`, "stages[1].block", "unknown field (known: acts, blocks, depths, expansions, kernels, se, stride, widths)"},
		{"widths type", `"widths": [16, 32]`, `"widths": ["16"]`, "stages[1].widths[0]", `want an integer, got "16"`},
		{"stem layer", `"stem": [{"type": "conv", "out": 8, "kernel": 3}]`, `"stem": [{"type": "conv", "out": 8, "kernel": 3, "padding": 1}]`, "stem[0].padding", "unknown field"},
		{"no stages", `"stages": [`, `"stages": [], "x": [`, "x", "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js := strings.Replace(convSpace, tt.old, tt.new, 1)
			require.NotEqual(t, convSpace, js, "test replacement did not apply")
			_, err := ParseSpaceJSON([]byte(js))
			var je *JSONError
			require.True(t, errors.As(err, &je), "want a *JSONError, got %T: %v", err, err)
			require.Equal(t, tt.path, je.Path, err.Error())
			require.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestSpaceJSONRoundTrip(t *testing.T) {
	s := mustSpace(t, convSpace)
	data, err := s.MarshalJSON()
	require.NoError(t, err)
	s2, err := ParseSpaceJSON(data)
	require.NoError(t, err)
	require.Equal(t, s, s2)
}

func TestLoadSpace(t *testing.T) {
	names := SpaceNames()
	require.NotEmpty(t, names)
	for _, name := range names {
		s, err := LoadSpace(name)
		require.NoError(t, err, name)
		require.Equal(t, name, s.Name)
		_, _, err = s.Sample(rand.New(rand.NewPCG(5, 6)))
		require.NoError(t, err, name)
		_, err = s.CostRange()
		require.NoError(t, err, name)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "mine.json")
	require.NoError(t, os.WriteFile(good, []byte(convSpace), 0o644))
	s, err := LoadSpace(good)
	require.NoError(t, err)
	require.Equal(t, "convtest", s.Name)

	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(strings.Replace(convSpace, `"depths": [1, 2]`, `"depths": [0]`, 1)), 0o644))
	_, err = LoadSpace(bad)
	require.ErrorContains(t, err, bad+": stages[0].depths[0]: depth 0")

	_, err = LoadSpace("nosuchspace")
	require.ErrorContains(t, err, `no space "nosuchspace": give a built-in space (`)
	_, err = LoadSpace(filepath.Join(dir, "missing.json"))
	require.ErrorContains(t, err, "missing.json: no such file")
}

// BenchmarkCostRange: go test -run '^$' -bench CostRange ./space/
func BenchmarkCostRange(b *testing.B) {
	s, err := LoadSpace("imagenet224")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.CostRange(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSample(b *testing.B) {
	s, err := LoadSpace("imagenet224")
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		if _, _, err := s.Sample(rng); err != nil {
			b.Fatal(err)
		}
	}
}
