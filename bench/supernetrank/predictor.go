package main

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mat"

	"nas/space"
)

// Predictor estimates a network's inherited accuracy from its choices: a
// ridge regression on an encoding of the choice vector, fitted on
// supernet evaluations. Each stage contributes one indicator per option
// of each decision under each block family (the family's own indicator
// included), so that a 5x5 kernel of an inverted residual and one of a
// Ghost block have effects of their own, plus the logarithm of the
// network's multiply-accumulates and of its parameters.
//
// The regression averages each choice's effect over every network it was
// fitted on. An evaluation scores one combination of choices with weights
// that the supernet trained in many others, so the accuracy it measures
// carries the noise of that one combination; the predictor keeps what the
// choices do across combinations. On small28 it ranks the study's
// networks below the scores it is fitted on (docs/benchmarks.md): the
// supernet's errors there are per choice, and smoothing keeps them.
type Predictor struct {
	space  *space.Space
	card   []int
	offset []int // first column of stage s, decision d: offset[s*decisions+d]
	cols   int
	mean   []float64 // column means of the fit's design
	scale  []float64 // column scales (1 for indicators)
	coef   []float64
	icept  float64
	// Lambda is the ridge penalty chosen by cross-validation.
	Lambda float64
	// CVRMSE is the cross-validated root-mean-square error of the chosen
	// penalty, in accuracy (0.02 is two points).
	CVRMSE float64
	// Networks is the number of evaluations fitted.
	Networks int
}

// decisions is the number of decisions per stage in a choice vector.
func decisions(sp *space.Space) int { return len(sp.Cardinalities()) / len(sp.Stages) }

// newPredictor lays out the columns of sp's encoding.
func newPredictor(sp *space.Space) *Predictor {
	p := &Predictor{space: sp, card: sp.Cardinalities()}
	nd := decisions(sp)
	for s := range sp.Stages {
		fams := p.card[s*nd]
		for d := range nd {
			p.offset = append(p.offset, p.cols)
			p.cols += fams * p.card[s*nd+d]
		}
	}
	p.cols += 2 // log MACs, log params
	return p
}

// encode writes the raw (unstandardised) encoding of a network into row.
func (p *Predictor) encode(a *space.Arch, row []float64) error {
	choices, err := p.space.Match(a)
	if err != nil {
		return err
	}
	c, err := a.Cost()
	if err != nil {
		return err
	}
	clear(row)
	nd := decisions(p.space)
	for s := range p.space.Stages {
		f := choices[s*nd]
		for d := range nd {
			row[p.offset[s*nd+d]+f*p.card[s*nd+d]+choices[s*nd+d]] = 1
		}
	}
	row[p.cols-2] = math.Log(float64(max(c.MACs, 1)))
	row[p.cols-1] = math.Log(float64(max(c.Params, 1)))
	return nil
}

// predictorLambdas are the ridge penalties cross-validation chooses from.
var predictorLambdas = []float64{0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100}

// predictorFolds is the number of folds of the cross-validation.
const predictorFolds = 5

// FitPredictor fits a Predictor on networks of sp and their inherited
// accuracies, choosing the ridge penalty by 5-fold cross-validation over
// folds that seed draws. It needs at least 10 networks.
func FitPredictor(sp *space.Space, archs []*space.Arch, acc []float64, seed uint64) (*Predictor, error) {
	if len(archs) != len(acc) {
		return nil, fmt.Errorf("predictor: %d networks and %d accuracies", len(archs), len(acc))
	}
	if len(archs) < 2*predictorFolds {
		return nil, fmt.Errorf("predictor: %d networks evaluated; it needs at least %d", len(archs), 2*predictorFolds)
	}
	p := newPredictor(sp)
	x := mat.NewDense(len(archs), p.cols, nil)
	for i, a := range archs {
		if err := p.encode(a, x.RawRowView(i)); err != nil {
			return nil, fmt.Errorf("predictor: network %d (%s): %w", i, a, err)
		}
		if math.IsNaN(acc[i]) || math.IsInf(acc[i], 0) {
			return nil, fmt.Errorf("predictor: network %d (%s) has accuracy %g", i, a, acc[i])
		}
	}
	p.standardise(x)
	rng := rand.New(rand.NewPCG(seed, 0x9ed1c7))
	fold := make([]int, len(archs))
	for i := range fold {
		fold[i] = i % predictorFolds
	}
	rng.Shuffle(len(fold), func(i, j int) { fold[i], fold[j] = fold[j], fold[i] })
	best := math.Inf(1)
	for _, lambda := range predictorLambdas {
		var sse float64
		for k := range predictorFolds {
			var tr, te []int
			for i, f := range fold {
				if f == k {
					te = append(te, i)
				} else {
					tr = append(tr, i)
				}
			}
			coef, icept, err := ridge(x, acc, tr, lambda)
			if err != nil {
				return nil, err
			}
			for _, i := range te {
				d := mat.Dot(x.RowView(i), mat.NewVecDense(len(coef), coef)) + icept - acc[i]
				sse += d * d
			}
		}
		if rmse := math.Sqrt(sse / float64(len(archs))); rmse < best {
			best, p.Lambda = rmse, lambda
		}
	}
	all := make([]int, len(archs))
	for i := range all {
		all[i] = i
	}
	var err error
	if p.coef, p.icept, err = ridge(x, acc, all, p.Lambda); err != nil {
		return nil, err
	}
	p.CVRMSE, p.Networks = best, len(archs)
	return p, nil
}

// standardise centres every column of x and scales the two numeric ones
// to unit variance, recording both for Predict.
func (p *Predictor) standardise(x *mat.Dense) {
	r, c := x.Dims()
	p.mean, p.scale = make([]float64, c), make([]float64, c)
	for j := range c {
		col := mat.Col(nil, j, x)
		var m float64
		for _, v := range col {
			m += v
		}
		m /= float64(r)
		p.mean[j], p.scale[j] = m, 1
		if j >= c-2 {
			var v float64
			for _, e := range col {
				v += (e - m) * (e - m)
			}
			if sd := math.Sqrt(v / float64(r)); sd > 0 {
				p.scale[j] = sd
			}
		}
		for i := range r {
			x.Set(i, j, (x.At(i, j)-m)/p.scale[j])
		}
	}
}

// ridge solves the penalised least squares of y on the rows of x, with an
// unpenalised intercept.
func ridge(x *mat.Dense, y []float64, rows []int, lambda float64) ([]float64, float64, error) {
	_, c := x.Dims()
	sub := mat.NewDense(len(rows), c, nil)
	ys := mat.NewVecDense(len(rows), nil)
	var ym float64
	for _, i := range rows {
		ym += y[i]
	}
	ym /= float64(len(rows))
	cm := make([]float64, c)
	for k, i := range rows {
		sub.SetRow(k, x.RawRowView(i))
		ys.SetVec(k, y[i]-ym)
		for j, v := range x.RawRowView(i) {
			cm[j] += v / float64(len(rows))
		}
	}
	for k := range rows {
		row := sub.RawRowView(k)
		for j := range row {
			row[j] -= cm[j]
		}
	}
	var g mat.SymDense
	g.SymOuterK(1, sub.T())
	for j := range c {
		g.SetSym(j, j, g.At(j, j)+lambda)
	}
	var ch mat.Cholesky
	if !ch.Factorize(&g) {
		return nil, 0, errors.New("predictor: the penalised normal equations are not positive definite (internal error)")
	}
	var xty, b mat.VecDense
	xty.MulVec(sub.T(), ys)
	if err := ch.SolveVecTo(&b, &xty); err != nil {
		return nil, 0, fmt.Errorf("predictor: %w", err)
	}
	coef := slices.Clone(b.RawVector().Data)
	icept := ym
	for j := range c {
		icept -= coef[j] * cm[j]
	}
	return coef, icept, nil
}

// Predict is the predicted inherited accuracy of a, which must be a
// network of the predictor's space.
func (p *Predictor) Predict(a *space.Arch) (float64, error) {
	row := make([]float64, p.cols)
	if err := p.encode(a, row); err != nil {
		return 0, err
	}
	out := p.icept
	for j, v := range row {
		out += p.coef[j] * (v - p.mean[j]) / p.scale[j]
	}
	return out, nil
}
