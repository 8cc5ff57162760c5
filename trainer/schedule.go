package trainer

import (
	"fmt"
	"math"
)

// Schedule is the learning rate per optimizer step: a linear warm-up over
// the first Warmup steps, then a cosine decay from Base to Min over the
// remaining steps of Total:
//
//	step < Warmup:  Base * (step+1) / Warmup
//	otherwise:      Min + (Base-Min) * (1 + cos(pi * (step-Warmup) / (Total-Warmup))) / 2
//
// Steps count from 0. That is PyTorch's SequentialLR of
// LinearLR(start_factor=1/Warmup, total_iters=Warmup-1) and
// CosineAnnealingLR(T_max=Total-Warmup, eta_min=Min), stepped once per
// batch (the golden test checks it against them).
type Schedule struct {
	Base   float64 // peak learning rate
	Min    float64 // learning rate at the end of the cosine
	Warmup int     // steps of linear warm-up (0: none)
	Total  int     // steps in the whole run
}

func (s Schedule) check() error {
	switch {
	case !(s.Base > 0) || math.IsInf(s.Base, 0):
		return fmt.Errorf("learning rate %g: want a positive number (0.05 to 0.1 is usual at batch 64)", s.Base)
	case !(s.Min >= 0 && s.Min <= s.Base):
		return fmt.Errorf("final learning rate %g: want a value in [0, %g] (the peak)", s.Min, s.Base)
	case s.Total < 1:
		return fmt.Errorf("schedule of %d steps: want at least 1", s.Total)
	case s.Warmup < 0 || s.Warmup >= s.Total:
		return fmt.Errorf("warm-up of %d steps: want 0 up to %d (fewer than the %d steps of the run)", s.Warmup, s.Total-1, s.Total)
	}
	return nil
}

// LR is the learning rate of step (0-based). Steps past Total get Min.
func (s Schedule) LR(step int) float64 {
	if step < s.Warmup {
		return s.Base * float64(step+1) / float64(s.Warmup)
	}
	if step >= s.Total {
		return s.Min
	}
	t := float64(step-s.Warmup) / float64(s.Total-s.Warmup)
	return s.Min + (s.Base-s.Min)*(1+math.Cos(math.Pi*t))/2
}
