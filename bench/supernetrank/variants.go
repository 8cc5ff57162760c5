package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"nas/bench/internal/rankcorr"
	"nas/blocks"
	"nas/space"
	"nas/supernet"
	"nas/trainer"
)

// variant is one way of scoring a network with the supernet: how many
// images batch norm is recalibrated on, which of them (the calibration
// seed), and how much of the validation
// split is scored.
type variant struct {
	name         string
	calibration  int
	evalFraction float64 // 0: 1,000 images of the validation split
	seed         uint64
	meanOf       []int // when set: the mean of these variants' scores
	finetune     int   // SGD steps on the inherited weights before scoring
}

// variants are the scorings -variants compares, with the seed of the
// study's default scoring first. Each is ranked by its accuracy and by
// its validation cross-entropy, which counts how sure a network is of
// every image and not only whether its top class is right.
func variants(seed uint64) []variant {
	return []variant{
		{"500 / 1,000", 500, 0, seed, nil, 0},
		{"500 / 1,000, calibration seed +1", 500, 0, seed + 1, nil, 0},
		{"500 / 1,000, calibration seed +2", 500, 0, seed + 2, nil, 0},
		{"500 / 1,000, mean of the 3 seeds above", 0, 0, 0, []int{0, 1, 2}, 0},
		{"2,000 / 1,000", 2000, 0, seed, nil, 0},
		{"500 / 6,000", 500, 1, seed, nil, 0},
		{"2,000 / 6,000", 2000, 1, seed, nil, 0},
		{"500 / 1,000 after 20 fine-tuning steps", 500, 0, seed, nil, 20},
		{"500 / 1,000 after 100 fine-tuning steps", 500, 0, seed, nil, 100},
		{"500 / 1,000 after 300 fine-tuning steps", 500, 0, seed, nil, 300},
	}
}

// variantScore is the scores of one network under one variant.
type variantScore struct {
	acc, loss, prob float64
	cpu             time.Duration
}

// scoreVariants scores every network under every variant and prints the
// rank correlation of each score with the stand-alone accuracy; the
// per-network scores go to DIR/variants.csv.
func scoreVariants(ctx context.Context, o options, sn *supernet.Supernet, sets *trainer.Sets, archs []*space.Arch, rows []row, w io.Writer) error {
	vs := variants(o.seed)
	if o.variantsMatch != "" {
		// The scoring of that name, or else those whose names hold it.
		var exact, keep []variant
		for _, v := range vs {
			if v.meanOf == nil && v.name == o.variantsMatch {
				exact = append(exact, v)
			}
			if v.meanOf == nil && strings.Contains(v.name, o.variantsMatch) {
				keep = append(keep, v)
			}
		}
		vs = keep
		if exact != nil {
			vs = exact
		}
	}
	scores := make([][]variantScore, len(vs))
	for k, v := range vs {
		scores[k] = make([]variantScore, len(archs))
		if v.meanOf != nil {
			for i := range archs {
				s := &scores[k][i]
				for _, j := range v.meanOf {
					f := 1 / float64(len(v.meanOf))
					s.acc += f * scores[j][i].acc
					s.loss += f * scores[j][i].loss
					s.prob += f * scores[j][i].prob
					s.cpu += scores[j][i].cpu
				}
			}
			continue
		}
		val, frac, err := validation(sn, sets, v.evalFraction)
		if err != nil {
			return err
		}
		ev, err := supernet.NewEvaluator(sn, o.data, sets, supernet.EvalOptions{CalibrationImages: v.calibration, EvalFraction: frac})
		if err != nil {
			return err
		}
		for i, a := range archs {
			cpu0 := cpuTime()
			net, err := ev.Network(ctx, a, v.seed)
			if err != nil {
				return fmt.Errorf("network %d, %s: %w", i, v.name, err)
			}
			if v.finetune > 0 {
				if err := finetune(ctx, sn, sets, net, v.finetune, v.calibration, v.seed); err != nil {
					return fmt.Errorf("network %d, %s: %w", i, v.name, err)
				}
			}
			m, err := probe(net, val)
			if err != nil {
				return fmt.Errorf("network %d, %s: %w", i, v.name, err)
			}
			scores[k][i] = variantScore{acc: m.acc, loss: m.loss, prob: m.prob, cpu: cpuTime() - cpu0}
		}
	}
	fmt.Fprintf(w, "\nscorings (calibration images / validation images), against stand-alone accuracy:\n")
	fmt.Fprintf(w, "  %-42s %8s %8s %8s %8s %8s %8s %9s\n", "scoring", "acc tau", "acc rho", "-CE tau", "-CE rho", "p tau", "p rho", "CPU-s/net")
	for k, v := range vs {
		var acc, negLoss, prob, alone []float64
		var cpu time.Duration
		for i, r := range rows {
			cpu += scores[k][i].cpu
			if math.IsNaN(r.StandAlone) {
				continue
			}
			acc, negLoss, alone = append(acc, scores[k][i].acc), append(negLoss, -scores[k][i].loss), append(alone, r.StandAlone)
			prob = append(prob, scores[k][i].prob)
		}
		if len(alone) < 3 {
			continue
		}
		fmt.Fprintf(w, "  %-42s %+8.3f %+8.3f %+8.3f %+8.3f %+8.3f %+8.3f %9.2f\n", v.name,
			rankcorr.KendallTauB(acc, alone), rankcorr.Spearman(acc, alone),
			rankcorr.KendallTauB(negLoss, alone), rankcorr.Spearman(negLoss, alone),
			rankcorr.KendallTauB(prob, alone), rankcorr.Spearman(prob, alone),
			cpu.Seconds()/float64(len(rows)))
	}
	return writeVariants(filepath.Join(o.out, "variants.csv"), vs, scores, rows)
}

func writeVariants(path string, vs []variant, scores [][]variantScore, rows []row) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(f)
	head := []string{"idx", "macs", "standalone_val_acc"}
	for _, v := range vs {
		head = append(head, v.name+" acc", v.name+" loss", v.name+" p")
	}
	_ = cw.Write(head)
	for i, r := range rows {
		rec := []string{strconv.Itoa(r.Idx), strconv.FormatInt(r.MACs, 10), strconv.FormatFloat(r.StandAlone, 'f', 4, 64)}
		for k := range vs {
			rec = append(rec, strconv.FormatFloat(scores[k][i].acc, 'f', 4, 64), strconv.FormatFloat(scores[k][i].loss, 'f', 4, 64),
				strconv.FormatFloat(scores[k][i].prob, 'f', 4, 64))
		}
		_ = cw.Write(rec)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// validation is the part of sn's validation split a scoring with
// evalFraction scores on (0: variantImages of it, drawn per class as the
// Evaluator draws its part), and the fraction that gives it.
func validation(sn *supernet.Supernet, sets *trainer.Sets, evalFraction float64) (*trainer.Dataset, float64, error) {
	rc := sn.Manifest.Config.Recipe
	rc.EvalFraction = evalFraction
	_, val, err := rc.Split(sets.Train)
	if err != nil {
		return nil, 0, err
	}
	if evalFraction == 0 {
		rc.EvalFraction = 1
		if val.Len() > variantImages {
			rc.EvalFraction = float64(variantImages) / float64(val.Len())
		}
		_, val, err = rc.Split(sets.Train)
	}
	return val, rc.EvalFraction, err
}

// variantImages is the validation images of the scorings named "/ 1,000".
const variantImages = 1000

// probed is a network's accuracy, mean cross-entropy and mean softmax
// probability of the true class over a validation set.
type probed struct{ acc, loss, prob float64 }

// probe runs net's inference plan over val (as trainer.Evaluate does)
// and measures the three scores.
func probe(net *blocks.Network, val *trainer.Dataset) (probed, error) {
	const batch = supernet.DefaultEvalBatch
	k := val.Classes()
	plan, err := blocks.NewPlan(net, batch, runtime.GOMAXPROCS(0))
	if err != nil {
		return probed{}, err
	}
	defer plan.Close()
	it, err := trainer.NewBatches(val, trainer.BatchOptions{Size: batch}, nil)
	if err != nil {
		return probed{}, err
	}
	in := make([]float32, plan.InputLen())
	var m probed
	n := 0
	for it.Next() {
		x, y := it.Images(), it.Labels()
		clear(in[copy(in, x.Data):])
		out, err := plan.Run(in)
		if err != nil {
			return probed{}, err
		}
		for i, label := range y {
			logits := out[i*k : (i+1)*k]
			top, mx := 0, math.Inf(-1)
			for c, v := range logits {
				if float64(v) > mx {
					top, mx = c, float64(v)
				}
			}
			sum := 0.0
			for _, v := range logits {
				sum += math.Exp(float64(v) - mx)
			}
			logp := float64(logits[label]) - mx - math.Log(sum)
			if top == label {
				m.acc++
			}
			m.loss -= logp
			m.prob += math.Exp(logp)
		}
		n += len(y)
	}
	m.acc, m.loss, m.prob = m.acc/float64(n), m.loss/float64(n), m.prob/float64(n)
	return m, nil
}

// finetune trains net, with its inherited weights, for steps SGD steps of
// the supernet's recipe at a constant learning rate of 0.01 (no warm-up,
// the dataset's augmentation, two threads), then recalibrates its batch
// norm on calibration training images that seed draws: the few-shot
// fine-tuning that weight-sharing studies use to let a network's
// weights move off the shared ones before it is scored.
func finetune(ctx context.Context, sn *supernet.Supernet, sets *trainer.Sets, net *blocks.Network, steps, calibration int, seed uint64) error {
	rc := sn.Manifest.Config.Recipe
	c := trainer.DefaultConfig()
	c.Epochs, c.Steps, c.LR, c.MinLR, c.WarmupEpochs = 1, steps, 0.01, 0.01, 0
	c.Augment, c.ValFraction, c.Seed, c.SplitSeed = rc.Augment, rc.ValFraction, seed, rc.Seed
	c.EvalFraction, c.Threads = 0.01, 2
	if _, err := trainer.TrainNetwork(ctx, c, net, sets); err != nil {
		return err
	}
	fit, _, err := rc.Split(sets.Train)
	if err != nil {
		return err
	}
	calib, err := trainer.Subset(fit, float64(calibration)/float64(fit.Len()), false, rand.New(rand.NewPCG(seed, 105)))
	if err != nil {
		return err
	}
	return supernet.Recalibrate(ctx, net, calib, supernet.DefaultEvalBatch)
}
