package main

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"nas/space"
)

// sampleArchs draws n networks of sp with seed.
func sampleArchs(t *testing.T, sp *space.Space, n int, seed uint64) []*space.Arch {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]*space.Arch, n)
	for i := range out {
		_, a, err := sp.Sample(rng)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = a
	}
	return out
}

// An accuracy made of one effect per (stage, family, decision, option)
// and of log MACs, plus noise, is recovered on networks the fit never
// saw: the predictor's error there is close to the noise, and far below
// the accuracies' own spread.
func TestPredictorRecoversAdditiveEffects(t *testing.T) {
	sp, err := space.LoadSpace("small28")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	effect := map[[4]int]float64{}
	truth := func(a *space.Arch) float64 {
		c, err := sp.Match(a)
		if err != nil {
			t.Fatal(err)
		}
		cost, err := a.Cost()
		if err != nil {
			t.Fatal(err)
		}
		nd := decisions(sp)
		v := 0.02 * math.Log(float64(cost.MACs))
		for s := range sp.Stages {
			for d := range nd {
				k := [4]int{s, c[s*nd], d, c[s*nd+d]}
				e, ok := effect[k]
				if !ok {
					e = 0.03 * rng.NormFloat64()
					effect[k] = e
				}
				v += e
			}
		}
		return v
	}
	const noise = 0.005
	fit := sampleArchs(t, sp, 400, 1)
	acc := make([]float64, len(fit))
	for i, a := range fit {
		acc[i] = truth(a) + noise*rng.NormFloat64()
	}
	p, err := FitPredictor(sp, fit, acc, 3)
	if err != nil {
		t.Fatal(err)
	}
	test := sampleArchs(t, sp, 200, 2)
	var sse, mean, varSum float64
	want := make([]float64, len(test))
	for i, a := range test {
		want[i] = truth(a)
		mean += want[i] / float64(len(test))
	}
	for i, a := range test {
		got, err := p.Predict(a)
		if err != nil {
			t.Fatal(err)
		}
		sse += (got - want[i]) * (got - want[i])
		varSum += (want[i] - mean) * (want[i] - mean)
	}
	rmse, sd := math.Sqrt(sse/float64(len(test))), math.Sqrt(varSum/float64(len(test)))
	if rmse > 0.25*sd || rmse > 4*noise {
		t.Errorf("held-out RMSE %.4f; the accuracies' spread is %.4f and the noise %.4f", rmse, sd, noise)
	}
	if p.CVRMSE > 4*noise || p.Networks != len(fit) {
		t.Errorf("cross-validated RMSE %.4f on %d networks; the noise is %.4f", p.CVRMSE, p.Networks, noise)
	}
}

func TestFitPredictorRefusesBadInput(t *testing.T) {
	sp, err := space.LoadSpace("small28")
	if err != nil {
		t.Fatal(err)
	}
	archs := sampleArchs(t, sp, 12, 1)
	acc := make([]float64, len(archs))
	other, err := space.LoadSpace("convnet28")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		sp   *space.Space
		a    []*space.Arch
		acc  []float64
		want string
	}{
		{"lengths", sp, archs, acc[:5], "12 networks and 5 accuracies"},
		{"too few", sp, archs[:5], acc[:5], "at least 10"},
		{"NaN", sp, archs, append(append([]float64{}, acc[:11]...), math.NaN()), "accuracy NaN"},
		{"other space", other, archs, acc, "network 0"},
	} {
		if _, err := FitPredictor(c.sp, c.a, c.acc, 1); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
