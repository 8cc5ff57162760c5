package search

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
	"nas/space"
)

// tinyNet is a small network with a residual chain, an SE block and a
// Ghost bottleneck, so that units with tied channels come up.
func tinyNet() *space.Arch {
	return &space.Arch{Name: "tiny", Input: blocks.Shape{C: 3, H: 8, W: 8}, Classes: 4, Layers: []blocks.Spec{
		&blocks.Conv{Out: 16, Kernel: 3, Act: blocks.ActReLU},
		&blocks.MBConv{Mid: 48, Out: 24, Stride: 2, Act: blocks.ActReLU},
		&blocks.MBConv{Mid: 72, Out: 24, Act: blocks.ActReLU, SE: blocks.SE{Squeeze: 16}},
		&blocks.Ghost{Mid: 48, Out: 32},
		&blocks.GlobalPool{},
		&blocks.Linear{Out: 4},
	}}
}

// macLatency is a fake latency model: 1 ms per million MACs, measured as
// the same plus 10%.
type macLatency struct{ calls int }

func (m *macLatency) PredictMs(_ context.Context, a *space.Arch) (float64, error) {
	m.calls++
	c, err := a.Cost()
	return float64(c.MACs) / 1e6, err
}

func (m *macLatency) MeasureMs(ctx context.Context, a *space.Arch) (float64, error) {
	p, err := m.PredictMs(ctx, a)
	return 1.1 * p, err
}

// paramTuner is a fake trainer: accuracy grows with the parameters, and
// with fine-tuning steps; fine-tuning checks that the weights fit the
// network exactly and scales them by a seed-dependent factor.
type paramTuner struct{ t *testing.T }

func (p paramTuner) FineTune(ctx context.Context, a *space.Arch, w Weights, steps int, seed uint64) (Weights, float64, error) {
	p.check(a, w)
	out := Weights{}
	for k, v := range w {
		c := *v
		c.Data = append([]float32(nil), v.Data...)
		if len(c.Data) > 0 {
			c.Data[0] += float32(seed%7) * 1e-3
		}
		out[k] = &c
	}
	acc, err := p.Accuracy(ctx, a, out)
	return out, acc, err
}

func (p paramTuner) Accuracy(_ context.Context, a *space.Arch, w Weights) (float64, error) {
	p.check(a, w)
	c, err := a.Cost()
	// Favour keeping the Ghost block wide, so that the criteria disagree.
	g := a.Layers[3].(*blocks.Ghost)
	return 1 - 1/(1+float64(c.Params)/2e3) - 0.002*float64(32-g.Out), err
}

func (p paramTuner) check(a *space.Arch, w Weights) {
	p.t.Helper()
	g, err := a.Graph()
	if err != nil {
		p.t.Fatal(err)
	}
	ps := g.Params()
	if len(ps) != len(w) {
		p.t.Fatalf("%d tensors for %d params", len(w), len(ps))
	}
	for _, s := range ps {
		if !reflect.DeepEqual(w[s.Name].Shape, s.Shape) {
			p.t.Fatalf("%s: shape %v, want %v", s.Name, w[s.Name].Shape, s.Shape)
		}
	}
}

// naRecorder keeps the last record; failAfter > 0 makes the record after
// that many fail, as a killed process would never write it.
type naRecorder struct {
	history   []Iteration
	arch      *space.Arch
	w         Weights
	records   int
	failAfter int
}

func (r *naRecorder) Record(h []Iteration, a *space.Arch, w Weights) error {
	if r.failAfter > 0 && r.records == r.failAfter {
		return errors.New("killed")
	}
	r.records++
	r.history, r.arch, r.w = append([]Iteration(nil), h...), a, w
	return nil
}

func startWeights(t *testing.T, a *space.Arch) Weights {
	t.Helper()
	g, err := a.Graph()
	if err != nil {
		t.Fatal(err)
	}
	net, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	return net.State()
}

func runNetAdapt(t *testing.T, s NetAdaptSettings, rec *naRecorder, a *space.Arch, w Weights, h []Iteration) ([]Iteration, error) {
	t.Helper()
	na := &NetAdapt{Latency: &macLatency{}, Tuner: paramTuner{t}, Recorder: rec, Settings: s}
	h, _, _, err := na.Run(context.Background(), a, w, h)
	return h, err
}

func TestNetAdaptMeetsBudget(t *testing.T) {
	for _, crit := range []string{CriterionAccuracy, CriterionRatio} {
		t.Run(crit, func(t *testing.T) {
			a := tinyNet()
			lat0, _ := (&macLatency{}).PredictMs(context.Background(), a)
			s := NetAdaptSettings{TargetMs: 0.6 * lat0, InitialReduction: 0.05, ShortTermSteps: 3, LongTermSteps: 10, Criterion: crit}
			rec := &naRecorder{}
			h, err := runNetAdapt(t, s, rec, a, startWeights(t, a), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(h) < 3 || !h[len(h)-1].Final || h[0].Index != 0 {
				t.Fatalf("history of %d iterations, final %v", len(h), h[len(h)-1].Final)
			}
			if got := h[len(h)-1].LatencyMs; got > s.TargetMs {
				t.Fatalf("final latency %.4f ms above the target %.4f", got, s.TargetMs)
			}
			for i, it := range h[1 : len(h)-1] {
				prev := h[i]
				want := prev.LatencyMs - s.InitialReduction*h[0].LatencyMs*math.Pow(0.96, float64(i))
				if math.Abs(it.ConstraintMs-want) > 1e-12 || it.LatencyMs > it.ConstraintMs {
					t.Fatalf("iteration %d: latency %.4f, constraint %.4f (want %.4f)", it.Index, it.LatencyMs, it.ConstraintMs, want)
				}
				if _, err := space.ParseArch(it.Arch); err != nil {
					t.Fatalf("iteration %d: %v", it.Index, err)
				}
				// The chosen proposal is the best by the criterion.
				for _, p := range it.Proposals {
					if p.LatencyMs > it.ConstraintMs {
						t.Fatalf("proposal %+v misses the constraint %.4f", p, it.ConstraintMs)
					}
					score := func(acc, lat float64) float64 {
						if crit == CriterionRatio {
							return (acc - prev.Accuracy) / math.Abs(prev.LatencyMs-lat)
						}
						return acc
					}
					if score(p.Accuracy, p.LatencyMs) > score(it.Accuracy, it.LatencyMs)+1e-12 {
						t.Fatalf("iteration %d chose %s (acc %.4f) over %+v", it.Index, it.Unit, it.Accuracy, p)
					}
				}
				if it.MeasuredMs != 1.1*it.LatencyMs {
					t.Fatalf("measured %v for predicted %v", it.MeasuredMs, it.LatencyMs)
				}
			}
			if rec.arch.String() != h[len(h)-1].Arch {
				t.Fatal("the last record is not the final network")
			}
		})
	}
}

func TestNetAdaptResume(t *testing.T) {
	a := tinyNet()
	w := startWeights(t, a)
	lat0, _ := (&macLatency{}).PredictMs(context.Background(), a)
	s := NetAdaptSettings{TargetMs: 0.7 * lat0, InitialReduction: 0.05, ShortTermSteps: 2, LongTermSteps: 5, Seed: 7}
	want, err := runNetAdapt(t, s, &naRecorder{}, a, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, kill := range []int{1, 2, len(want) - 1} {
		rec := &naRecorder{failAfter: kill}
		if _, err := runNetAdapt(t, s, rec, a, w, nil); err == nil {
			t.Fatalf("kill after %d records: no error", kill)
		}
		rec.failAfter = 0
		got, err := runNetAdapt(t, s, rec, rec.arch, rec.w, rec.history)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("kill after %d records: resumed history differs\n got %+v\nwant %+v", kill, got, want)
		}
	}
	// A finished run resumes to itself.
	rec := &naRecorder{}
	runNetAdapt(t, s, rec, a, w, nil)
	got, err := runNetAdapt(t, s, &naRecorder{}, rec.arch, rec.w, rec.history)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("resuming a finished run: %v", err)
	}
	// The history must belong to the network given.
	if _, err := runNetAdapt(t, s, &naRecorder{}, a, w, rec.history); err == nil {
		t.Fatal("resumed with a network that is not the history's last")
	}
}

func TestNetAdaptUnreachable(t *testing.T) {
	a := tinyNet()
	s := NetAdaptSettings{TargetMs: 1e-6, InitialReduction: 0.5, Decay: 1}
	_, err := runNetAdapt(t, s, &naRecorder{}, a, startWeights(t, a), nil)
	if !errors.Is(err, ErrNoProposal) {
		t.Fatalf("err = %v, want ErrNoProposal", err)
	}
}

func TestNetAdaptSettingsValidate(t *testing.T) {
	cases := []struct {
		name string
		s    NetAdaptSettings
		ok   bool
	}{
		{"defaults", NetAdaptSettings{TargetMs: 1}, true},
		{"no target", NetAdaptSettings{}, false},
		{"reduction 1", NetAdaptSettings{TargetMs: 1, InitialReduction: 1}, false},
		{"decay above 1", NetAdaptSettings{TargetMs: 1, Decay: 1.5}, false},
		{"negative steps", NetAdaptSettings{TargetMs: 1, ShortTermSteps: -1}, false},
		{"criterion", NetAdaptSettings{TargetMs: 1, Criterion: "flops"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.s.Validate(); (err == nil) != c.ok {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}

// countingTuner is paramTuner recording how many calls run at once.
type countingTuner struct {
	paramTuner
	mu            sync.Mutex
	running, most int
}

func (c *countingTuner) enter() func() {
	c.mu.Lock()
	c.running++
	c.most = max(c.most, c.running)
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.running--
		c.mu.Unlock()
	}
}

func (c *countingTuner) FineTune(ctx context.Context, a *space.Arch, w Weights, steps int, seed uint64) (Weights, float64, error) {
	defer c.enter()()
	return c.paramTuner.FineTune(ctx, a, w, steps, seed)
}

func (c *countingTuner) Accuracy(ctx context.Context, a *space.Arch, w Weights) (float64, error) {
	defer c.enter()()
	return c.paramTuner.Accuracy(ctx, a, w)
}

// Proposals fine-tuned side by side give the run of one at a time:
// history, final network and weights.
func TestNetAdaptParallel(t *testing.T) {
	for _, steps := range []int{0, 3} {
		for _, crit := range []string{CriterionAccuracy, CriterionRatio} {
			a := tinyNet()
			lat0, _ := (&macLatency{}).PredictMs(context.Background(), a)
			var want *naRecorder
			for _, par := range []int{1, 3} {
				s := NetAdaptSettings{TargetMs: 0.6 * lat0, InitialReduction: 0.05, ShortTermSteps: steps, LongTermSteps: 10, Criterion: crit, Parallel: par}
				rec := &naRecorder{}
				tuner := &countingTuner{paramTuner: paramTuner{t}}
				na := &NetAdapt{Latency: &macLatency{}, Tuner: tuner, Recorder: rec, Settings: s}
				_, _, _, err := na.Run(context.Background(), a, startWeights(t, a), nil)
				require.NoError(t, err)
				require.LessOrEqual(t, tuner.most, par)
				if want == nil {
					want = rec
					continue
				}
				require.Equal(t, want.history, rec.history, "steps %d, %s", steps, crit)
				require.Equal(t, want.arch.String(), rec.arch.String())
				require.Equal(t, want.w, rec.w)
			}
		}
	}
}
