// Command supernetrank measures how well a supernet ranks the networks of
// its space: it draws -n networks spread over the space's range of
// multiply-accumulates (a seeded pool of -pool networks, sorted by MACs,
// taken at evenly spaced ranks), trains each stand-alone with one fixed
// recipe, scores each with the supernet (inherited weights, batch norm
// recalibrated) and with the search's default proxy (one epoch on 5% of
// the training split), and prints Kendall's tau-b and Spearman's rho
// between the stand-alone accuracy and each score, and MACs.
//
// Every accuracy is on the supernet run's validation split. Each finished
// network is appended to -out as one JSON line; a run started again with
// the same -out skips the networks already there, so a long study can be
// stopped and continued.
//
//	go run ./bench/supernetrank -supernet runs/super -n 20 -seed 1 -epochs 5 -out rank.jsonl
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"

	"nas/bench/internal/rankcorr"
	"nas/space"
	"nas/supernet"
	"nas/trainer"
)

// record is one network of the study.
type record struct {
	Arch       string  `json:"arch"`
	MACs       int64   `json:"macs"`
	StandAlone float64 `json:"standalone_val_acc"`
	Supernet   float64 `json:"supernet_val_acc"`
	Proxy      float64 `json:"proxy_val_acc"`
}

func main() {
	dir := flag.String("supernet", "", "supernet folder (nas supernet train --out)")
	dataDir := flag.String("data-dir", "", "folder of the supernet's dataset (default: its install folder)")
	n := flag.Int("n", 20, "networks to study")
	pool := flag.Int("pool", 1000, "networks drawn to cover the range of MACs")
	seed := flag.Uint64("seed", 1, "seed of the networks drawn and of their training")
	epochs := flag.Int("epochs", 5, "stand-alone recipe: epochs on the training split")
	fraction := flag.Float64("fraction", 1, "stand-alone recipe: fraction of the training split")
	proxyEpochs := flag.Int("proxy-epochs", 1, "proxy: epochs")
	proxyFraction := flag.Float64("proxy-fraction", 0.05, "proxy: fraction of the training split")
	out := flag.String("out", "supernetrank.jsonl", "JSON lines of the finished networks (read back to continue)")
	flag.Parse()
	if err := run(*dir, *dataDir, *n, *pool, *seed, *epochs, *fraction, *proxyEpochs, *proxyFraction, *out, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "supernetrank:", err)
		os.Exit(1)
	}
}

func run(dir, dataDir string, n, pool int, seed uint64, epochs int, fraction float64, proxyEpochs int, proxyFraction float64, out string, w io.Writer) error {
	if dir == "" {
		return errors.New("-supernet DIR is required")
	}
	if n < 3 || pool < n {
		return fmt.Errorf("-n %d -pool %d: want at least 3 networks and a pool at least as large", n, pool)
	}
	sn, err := supernet.Open(dir)
	if err != nil {
		return err
	}
	data := sn.Manifest.Data.Name
	sets, err := trainer.OpenDataset(data, dataDir)
	if err != nil {
		return err
	}
	ev, err := supernet.NewEvaluator(sn, data, sets, supernet.EvalOptions{})
	if err != nil {
		return err
	}
	archs, err := spread(sn.Space, n, pool, seed)
	if err != nil {
		return err
	}
	done, err := readDone(out)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	recipe := sn.Manifest.Config.Recipe
	ctx := context.Background()
	var recs []record
	for i, a := range archs {
		key := a.String()
		if r, ok := done[key]; ok {
			recs = append(recs, r)
			continue
		}
		cost, err := a.Cost()
		if err != nil {
			return err
		}
		r := record{Arch: key, MACs: cost.MACs}
		if r.Supernet, err = ev.Accuracy(ctx, a, seed); err != nil {
			return fmt.Errorf("network %d: supernet: %w", i, err)
		}
		train := func(epochs int, fraction float64) (float64, error) {
			c := trainer.DefaultConfig()
			c.Epochs, c.DataFraction = epochs, fraction
			c.Augment = recipe.Augment
			c.Seed, c.SplitSeed, c.ValFraction = seed+uint64(i), recipe.Seed, recipe.ValFraction
			res, err := trainer.Train(ctx, c, a, sets)
			if err != nil {
				return 0, err
			}
			return res.ValAcc, nil
		}
		if r.Proxy, err = train(proxyEpochs, proxyFraction); err != nil {
			return fmt.Errorf("network %d: proxy: %w", i, err)
		}
		if r.StandAlone, err = train(epochs, fraction); err != nil {
			return fmt.Errorf("network %d: stand-alone: %w", i, err)
		}
		js, _ := json.Marshal(r)
		if _, err := f.Write(append(js, '\n')); err != nil {
			return err
		}
		fmt.Fprintf(w, "%2d  %9d MACs  stand-alone %.4f  supernet %.4f  proxy %.4f\n", i, r.MACs, r.StandAlone, r.Supernet, r.Proxy)
		recs = append(recs, r)
	}
	report(w, recs)
	return nil
}

// spread draws pool networks with seed and returns n of them at evenly
// spaced ranks of their MACs (distinct networks only).
func spread(sp *space.Space, n, pool int, seed uint64) ([]*space.Arch, error) {
	rng := rand.New(rand.NewPCG(seed, 0x5ace))
	type cand struct {
		a    *space.Arch
		macs int64
	}
	seen := map[string]bool{}
	var cands []cand
	for range pool {
		_, a, err := sp.Sample(rng)
		if err != nil {
			return nil, err
		}
		if seen[a.String()] {
			continue
		}
		seen[a.String()] = true
		c, err := a.Cost()
		if err != nil {
			return nil, err
		}
		cands = append(cands, cand{a, c.MACs})
	}
	if len(cands) < n {
		return nil, fmt.Errorf("only %d distinct networks in a pool of %d: raise -pool", len(cands), pool)
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].macs < cands[j].macs })
	out := make([]*space.Arch, n)
	for i := range n {
		out[i] = cands[i*(len(cands)-1)/(n-1)].a
	}
	return out, nil
}

func readDone(path string) (map[string]record, error) {
	done := map[string]record{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return done, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s line %d: %v (delete the line or the file to start again)", path, line, err)
		}
		done[r.Arch] = r
	}
	return done, sc.Err()
}

func report(w io.Writer, recs []record) {
	col := func(f func(record) float64) []float64 {
		out := make([]float64, len(recs))
		for i, r := range recs {
			out[i] = f(r)
		}
		return out
	}
	truth := col(func(r record) float64 { return r.StandAlone })
	fmt.Fprintf(w, "\n%d networks; against stand-alone validation accuracy:\n", len(recs))
	for _, c := range []struct {
		name string
		x    []float64
	}{
		{"supernet", col(func(r record) float64 { return r.Supernet })},
		{"proxy", col(func(r record) float64 { return r.Proxy })},
		{"MACs", col(func(r record) float64 { return float64(r.MACs) })},
	} {
		fmt.Fprintf(w, "  %-9s Kendall tau-b %+.3f  Spearman rho %+.3f\n", c.name, rankcorr.KendallTauB(c.x, truth), rankcorr.Spearman(c.x, truth))
	}
}
