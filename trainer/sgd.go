package trainer

import (
	"fmt"

	"nas/blocks/nn"
)

// SGDConfig sets stochastic gradient descent with momentum, with the
// semantics of torch.optim.SGD (dampening 0).
type SGDConfig struct {
	// Momentum is the weight of the previous velocity, 0 for plain SGD
	// (0.9 is usual).
	Momentum float64 `json:"momentum"`
	// Nesterov uses Nesterov momentum: the step is g + Momentum*v instead
	// of v. It needs Momentum > 0.
	Nesterov bool `json:"nesterov"`
	// WeightDecay is the L2 penalty added to the gradient of every
	// parameter without NoDecay (convolution and linear weights; not BN
	// scales and shifts, biases or PReLU slopes).
	WeightDecay float64 `json:"weight_decay"`
}

func (c SGDConfig) check() error {
	switch {
	case !(c.Momentum >= 0 && c.Momentum < 1):
		return fmt.Errorf("momentum %g: want a value in [0, 1) (0.9 is usual)", c.Momentum)
	case c.Nesterov && c.Momentum == 0:
		return fmt.Errorf("nesterov momentum needs a momentum above 0 (0.9 is usual)")
	case !(c.WeightDecay >= 0 && c.WeightDecay < 1):
		return fmt.Errorf("weight decay %g: want a value in [0, 1) (4e-5 to 5e-4 is usual)", c.WeightDecay)
	}
	return nil
}

// SGD updates parameters from their gradients. For each parameter p with
// gradient g, at learning rate lr (torch.optim.SGD with dampening 0):
//
//	d = g + WeightDecay*p          (WeightDecay 0 for NoDecay parameters)
//	v = d                          at the first step
//	v = Momentum*v + d             afterwards
//	p = p - lr*(d + Momentum*v)    with Nesterov
//	p = p - lr*v                   without
//
// The arithmetic is float32, in the order above, as PyTorch's. An SGD is
// not safe for concurrent use.
type SGD struct {
	cfg      SGDConfig
	params   []*nn.Param
	velocity [][]float32 // per param; nil until its first step
}

// NewSGD returns an optimizer over params, or an error naming the setting
// that is out of range.
func NewSGD(params []*nn.Param, cfg SGDConfig) (*SGD, error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("sgd: %w", err)
	}
	return &SGD{cfg: cfg, params: params, velocity: make([][]float32, len(params))}, nil
}

// Step updates every parameter that has a gradient at learning rate lr.
// Parameters whose Grad is nil (unused in this step) are left alone, as
// PyTorch leaves parameters whose .grad is None.
func (o *SGD) Step(lr float64) {
	mom := float32(o.cfg.Momentum)
	rate := float32(lr)
	for i, p := range o.params {
		if p.Grad == nil {
			continue
		}
		wd := float32(o.cfg.WeightDecay)
		if p.NoDecay {
			wd = 0
		}
		if o.cfg.Momentum == 0 {
			for j, g := range p.Grad {
				d := g
				if wd != 0 {
					d += wd * p.Data[j]
				}
				p.Data[j] -= rate * d
			}
			continue
		}
		v := o.velocity[i]
		first := v == nil
		if first {
			v = make([]float32, len(p.Data))
			o.velocity[i] = v
		}
		for j, g := range p.Grad {
			d := g
			if wd != 0 {
				d += wd * p.Data[j]
			}
			if first {
				v[j] = d
			} else {
				v[j] = mom*v[j] + d
			}
			if o.cfg.Nesterov {
				d += mom * v[j]
			} else {
				d = v[j]
			}
			p.Data[j] -= rate * d
		}
	}
}

// Velocity returns the momentum buffer of each parameter by name (the
// slices themselves), for checkpoints. Parameters that have not taken a
// step yet have none.
func (o *SGD) Velocity() map[string][]float32 {
	out := map[string][]float32{}
	for i, v := range o.velocity {
		if v != nil {
			out[o.params[i].Name] = v
		}
	}
	return out
}

// SetVelocity restores momentum buffers saved by Velocity. Every name must
// be a parameter of the optimizer with the same number of values.
func (o *SGD) SetVelocity(vel map[string][]float32) error {
	index := make(map[string]int, len(o.params))
	for i, p := range o.params {
		index[p.Name] = i
	}
	for name, v := range vel {
		i, ok := index[name]
		if !ok {
			return fmt.Errorf("momentum buffer %q belongs to no parameter of the network", name)
		}
		if len(v) != o.params[i].Len() {
			return fmt.Errorf("momentum buffer %q has %d values, the parameter has %d", name, len(v), o.params[i].Len())
		}
	}
	for i := range o.velocity {
		o.velocity[i] = nil
	}
	for name, v := range vel {
		o.velocity[index[name]] = append([]float32(nil), v...)
	}
	return nil
}
