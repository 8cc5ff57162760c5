package main

import (
	"encoding/json"
	"math"
	"testing"

	"nas/space"
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
	cs := correlations(rows, false)
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
