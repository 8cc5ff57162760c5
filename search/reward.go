package search

import (
	"fmt"
	"math"
)

// Objective is the MnasNet multi-objective reward
//
//	reward(m) = ACC(m) * (LAT(m) / TAR) ^ w,   w = Alpha if LAT <= TAR else Beta
//
// (Tan et al., "MnasNet: Platform-Aware Neural Architecture Search for
// Mobile", CVPR 2019, eq. 2). The soft constraint is Alpha = Beta = -0.15
// (MobileNetV3's value for small models; MnasNet used -0.07): every
// millisecond counts on both sides of the target. The hard constraint is
// Alpha = 0, Beta = -1: no reward for being faster than the target, and a
// steep penalty past it.
type Objective struct {
	TargetMs float64
	Alpha    float64
	Beta     float64
}

// DefaultW is the default exponent of the soft constraint.
const DefaultW = -0.15

// SoftObjective is the soft constraint with exponent w on both sides.
func SoftObjective(targetMs, w float64) Objective {
	return Objective{TargetMs: targetMs, Alpha: w, Beta: w}
}

// HardObjective is MnasNet's hard constraint.
func HardObjective(targetMs float64) Objective {
	return Objective{TargetMs: targetMs, Alpha: 0, Beta: -1}
}

// Validate checks the settings.
func (o Objective) Validate() error {
	switch {
	case !(o.TargetMs > 0) || math.IsInf(o.TargetMs, 0):
		return fmt.Errorf("target latency %v ms must be a positive number", o.TargetMs)
	case o.Alpha > 0 || o.Beta > 0:
		return fmt.Errorf("reward exponents alpha %v and beta %v must be <= 0 (a slower network must never score higher)", o.Alpha, o.Beta)
	}
	return nil
}

// Hard reports whether this is the hard constraint (alpha 0, beta -1).
func (o Objective) Hard() bool { return o.Alpha == 0 && o.Beta == -1 }

// Reward scores a network of accuracy acc (a fraction in [0, 1]) and latency
// latMs.
func (o Objective) Reward(acc, latMs float64) float64 {
	w := o.Alpha
	if latMs > o.TargetMs {
		w = o.Beta
	}
	return acc * math.Pow(latMs/o.TargetMs, w)
}

// Hopeless reports whether no accuracy could give a network of latency latMs
// a reward above best under this objective: its reward is at most
// 1 * (lat/TAR)^w. A search under the hard constraint may skip training such
// candidates and record them as skipped.
func (o Objective) Hopeless(latMs, best float64) bool {
	return o.Reward(1, latMs) < best
}
