package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"nas/space"
	"nas/supernet"
)

// predictorEval is one line of DIR/predictor-evals.jsonl: a network the
// supernet scored for the predictor's fit.
type predictorEval struct {
	Supernet string  `json:"supernet"` // its Identity
	Arch     string  `json:"arch"`
	Acc      float64 `json:"val_acc"`
}

// predictAll draws -predictor networks of sp uniformly (seed -seed, none
// of the studied ones), scores them with ev on all cores, fits a
// Predictor on the scores and writes its prediction for each
// studied network into rows. The scores are kept in
// DIR/predictor-evals.jsonl per supernet, so that a study run again
// scores only the networks it lacks.
func predictAll(ctx context.Context, o options, sp *space.Space, sn *supernet.Supernet, ev *supernet.Evaluator, archs []*space.Arch, rows []row, w io.Writer) error {
	studied := map[string]bool{}
	for _, a := range archs {
		studied[a.String()] = true
	}
	rng := rand.New(rand.NewPCG(o.seed, 0x9ed1))
	var fit []*space.Arch
	seen := map[string]bool{}
	for tries := 0; len(fit) < o.predictor; tries++ {
		if tries > 100*o.predictor {
			return fmt.Errorf("-predictor %d: only %d distinct networks of %s outside the study in %d draws", o.predictor, len(fit), sp.Name, tries)
		}
		_, a, err := sp.Sample(rng)
		if err != nil {
			return err
		}
		if k := a.String(); !studied[k] && !seen[k] {
			seen[k] = true
			fit = append(fit, a)
		}
	}
	path := filepath.Join(o.out, "predictor-evals.jsonl")
	have, err := readPredictorEvals(path, sn.Identity)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	acc := make([]float64, len(fit))
	var todo []int
	for i, a := range fit {
		if v, ok := have[a.String()]; ok {
			acc[i] = v
		} else {
			todo = append(todo, i)
		}
	}
	fmt.Fprintf(w, "predictor: %d networks to fit on, %d scored before\n", len(fit), len(fit)-len(todo))
	cpu0 := cpuTime()
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		next  int
		done  int
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next == len(todo) || first != nil {
					mu.Unlock()
					return
				}
				i := todo[next]
				next++
				mu.Unlock()
				v, err := ev.Accuracy(ctx, fit[i], o.seed)
				mu.Lock()
				if err != nil {
					first = fmt.Errorf("predictor network %s: %w", fit[i], err)
				} else {
					acc[i] = v
					js, _ := json.Marshal(predictorEval{Supernet: sn.Identity, Arch: fit[i].String(), Acc: v})
					if _, err := f.Write(append(js, '\n')); err != nil && first == nil {
						first = err
					}
					if done++; done%50 == 0 {
						fmt.Fprintf(w, "predictor: %d of %d scored\n", done, len(todo))
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	if len(todo) > 0 {
		fmt.Fprintf(w, "predictor: %.2f CPU-s per network scored\n", (cpuTime()-cpu0).Seconds()/float64(len(todo)))
	}
	p, err := FitPredictor(sp, fit, acc, o.seed)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "predictor: %d networks, ridge penalty %g, cross-validated RMSE %.2f points\n", p.Networks, p.Lambda, 100*p.CVRMSE)
	for i, a := range archs {
		if rows[i].Predicted, err = p.Predict(a); err != nil {
			return err
		}
	}
	return nil
}

// readPredictorEvals reads the scores of supernet identity id from path.
func readPredictorEvals(path, id string) (map[string]float64, error) {
	out := map[string]float64{}
	err := readJSONL(path, "score it again", func(e predictorEval) {
		if e.Supernet == id {
			out[e.Arch] = e.Acc
		}
	})
	return out, err
}
