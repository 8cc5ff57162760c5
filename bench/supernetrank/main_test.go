package main

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nas/blocks"
	"nas/space"
	"nas/trainer"
)

func TestCoverOrder(t *testing.T) {
	for _, n := range []int{3, 4, 7, 20, 21} {
		o := coverOrder(n)
		if len(o) != n || o[0] != 0 || o[1] != n-1 {
			t.Fatalf("coverOrder(%d) = %v: want a permutation starting with 0 and %d", n, o, n-1)
		}
		seen := map[int]bool{}
		for _, i := range o {
			if i < 0 || i >= n || seen[i] {
				t.Fatalf("coverOrder(%d) = %v: not a permutation", n, o)
			}
			seen[i] = true
		}
	}
}

// The shards of a study run every training once between them, and -only
// keeps the trainings of its group.
func TestPlanShards(t *testing.T) {
	sp, err := space.LoadSpace("small28")
	if err != nil {
		t.Fatal(err)
	}
	archs, _, err := spread(sp, 5, 50, 1)
	if err != nil {
		t.Fatal(err)
	}
	o := options{data: "fashion-mnist", seed: 1, splitSeed: 1, epochs: 1, fraction: 0.1, threads: 1, spread: 2, shards: 1}
	all := plan(o, archs)
	if len(all) != 2*5+2 {
		t.Fatalf("%d trainings, want %d", len(all), 2*5+2)
	}
	for _, only := range []string{"", "standalone", "proxy", "spread"} {
		want := map[string]int{"": 12, "standalone": 5, "proxy": 5, "spread": 2}[only]
		got := map[string]int{}
		for k := range 3 {
			o.only, o.shard, o.shards = only, k, 3
			for _, j := range plan(o, archs) {
				if only != "" && j.group != only {
					t.Errorf("-only %s: planned a %s training", only, j.group)
				}
				got[j.t.key()]++
			}
		}
		if len(got) != want {
			t.Errorf("-only %q: %d distinct trainings over the shards, want %d", only, len(got), want)
		}
		for k, c := range got {
			if c != 1 {
				t.Errorf("-only %q: %s planned %d times", only, k, c)
			}
		}
	}
}

func TestCorrelationsJSON(t *testing.T) {
	rows := []row{
		{MACs: 1, StandAlone: 0.8, Supernet: 0.5, Proxy: math.NaN()},
		{MACs: 2, StandAlone: 0.9, Supernet: 0.6, Proxy: math.NaN()},
		{MACs: 3, StandAlone: 0.7, Supernet: 0.4, Proxy: math.NaN()},
		{MACs: 4, StandAlone: math.NaN(), Supernet: 0.9, Proxy: math.NaN()},
	}
	cs := correlations(rows, false, false)
	if cs[0].Networks != 3 || float64(cs[0].TauB) != 1 || float64(cs[0].Rho) != 1 {
		t.Errorf("supernet: %+v, want 3 networks ranked alike (tau 1, rho 1)", cs[0])
	}
	if cs[1].Networks != 0 || !math.IsNaN(float64(cs[1].TauB)) {
		t.Errorf("proxy: %+v, want no networks and no figure", cs[1])
	}
	js, err := json.Marshal(cs)
	if err != nil {
		t.Fatal(err)
	}
	var back []map[string]any
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back[1]["kendall_tau_b"] != nil {
		t.Errorf("proxy tau-b is %v in JSON, want null", back[1]["kendall_tau_b"])
	}
}

// probe's accuracy and cross-entropy are trainer.Evaluate's, and its
// mean probability of the true class is the softmax of the network's
// tape forward pass, image by image.
func TestProbe(t *testing.T) {
	sp, err := space.LoadSpace("small28")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 2))
	_, a, err := sp.Sample(rng)
	if err != nil {
		t.Fatal(err)
	}
	g, err := a.Graph()
	if err != nil {
		t.Fatal(err)
	}
	net, err := blocks.NewNetwork(g, rng)
	if err != nil {
		t.Fatal(err)
	}
	const n = 130 // a partial last batch
	pix, labels := make([]uint8, n*28*28), make([]int, n)
	for i := range pix {
		pix[i] = uint8(rng.IntN(256))
	}
	for i := range labels {
		labels[i] = rng.IntN(10)
	}
	names := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	val, err := trainer.NewDataset("synth", blocks.Shape{C: 1, H: 28, W: 28}, names, pix, labels, trainer.Normalization{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := probe(net, val)
	if err != nil {
		t.Fatal(err)
	}
	m, err := trainer.Evaluate(context.Background(), net, val, 50)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got.acc-m.Acc) > 1e-12 || math.Abs(got.loss-m.Loss) > 1e-4 {
		t.Errorf("probe: accuracy %v, loss %v; trainer.Evaluate: %v, %v", got.acc, got.loss, m.Acc, m.Loss)
	}
	it, err := trainer.NewBatches(val, trainer.BatchOptions{Size: n}, nil)
	if err != nil || !it.Next() {
		t.Fatal(err)
	}
	out := net.Forward(nil, it.Images())
	want := 0.0
	for i, y := range it.Labels() {
		row := out.Data[i*10 : (i+1)*10]
		sum := 0.0
		for _, v := range row {
			sum += math.Exp(float64(v))
		}
		want += math.Exp(float64(row[y])) / sum / n
	}
	if math.Abs(got.prob-want) > 1e-4 || !(got.prob > 0 && got.prob < 1) {
		t.Errorf("probe: mean probability of the true class %v, want %v", got.prob, want)
	}
}

// -truth reads an earlier study's table and refuses what is not one.
func TestReadTruth(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "t.csv")
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := readTruth(write("idx,macs,standalone_val_acc\n0,5,0.75\n2,7,\n1,6,0.8\n"), 3)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 0.75 || got[1] != 0.8 || !math.IsNaN(got[2]) {
		t.Errorf("got %v, want [0.75 0.8 NaN]", got)
	}
	for _, bad := range []string{"idx,acc\n0,0.5\n", "idx,standalone_val_acc\n3,0.5\n", "idx,standalone_val_acc\n0,75\n", "idx,standalone_val_acc\nx,0.5\n"} {
		if _, err := readTruth(write(bad), 3); err == nil || !strings.Contains(err.Error(), "-truth") {
			t.Errorf("%q: error %v, want one naming -truth", bad, err)
		}
	}
	if _, err := readTruth("testdata/standalone-1epoch-10pct.csv", 20); err != nil {
		t.Error(err)
	}
}
