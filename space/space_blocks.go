package space

import (
	"math"
	"sort"

	"nas/blocks"
)

// family maps a stage's choices to the block specs of one layer of the
// stage. Families are the "blocks" options of a Stage.
type family struct {
	// uses says which decisions the family reads; the others are ignored
	// (and read 0 in canonical choice vectors). Width and depth are always
	// used.
	uses [decisionsPerStage]bool
	// roundWidth makes a width valid for the family (ShuffleNet V2 needs
	// even widths, ...).
	roundWidth func(w int) int
	// layer gives the specs of one layer of the stage at input in.
	layer func(in blocks.Shape, c stageChoice, stride int) ([]blocks.Spec, error)
}

func sameWidth(w int) int { return w }

// strideField is the stride as the specs store it: 0 means 1.
func strideField(stride int) int {
	if stride == 1 {
		return 0
	}
	return stride
}

// familyFor returns the mapping of a block family, if the family is known
// here and its block type is registered. The mappings (documented in
// docs/space-format.md):
//
//   - conv: conv-BN-act with the stage's kernel and activation.
//   - dwsep: MobileNet V1's depthwise-separable conv: kernel, activation.
//   - ir: MBConv; expanded channels = round(input channels x expansion),
//     SE squeeze = make_divisible(expanded x SE ratio, 8) (MobileNet V3),
//     with the stage's kernel and activation.
//   - ghost: Ghost bottleneck; expanded channels =
//     make_divisible(input x expansion, 4), SE squeeze =
//     make_divisible(expanded x SE ratio, 4) (GhostNet); kernel.
//   - fire: SqueezeNet's Fire, squeeze = width/8, e1 = e3 = width/2; width
//     rounded up to even; a stride-2 stage starts with a 3x3 stride-2 max
//     pool (padding 1). Kernel, expansion, SE and activation are ignored.
//   - shuffle2: ShuffleNet V2 unit with the stage's kernel; width rounded
//     up to even; a stride-1 stage that changes the width starts with a
//     1x1 conv-BN-ReLU to the width (the unit cannot change it at stride 1).
//   - shuffle1: ShuffleNet V1 unit with 3 groups and the stage's kernel;
//     width rounded to the nearest multiple of 12 (bottleneck width/4
//     divisible by the groups); a first layer the unit cannot take starts
//     with a 1x1 conv-BN-ReLU to the width (stride 1) or half of it
//     (stride 2, where the unit concatenates its pooled input).
//   - sqnxt: SqueezeNext block with the reference reduce/squeeze rule.
func familyFor(name string) (family, bool) {
	var f family
	switch name {
	case "conv":
		f = family{uses: usesOf(decKernel, decAct), roundWidth: sameWidth,
			layer: func(in blocks.Shape, c stageChoice, stride int) ([]blocks.Spec, error) {
				return []blocks.Spec{&blocks.Conv{Out: c.width, Kernel: c.kernel, Stride: strideField(stride), Act: c.act}}, nil
			}}
	case "dwsep":
		f = family{uses: usesOf(decKernel, decAct), roundWidth: sameWidth,
			layer: func(in blocks.Shape, c stageChoice, stride int) ([]blocks.Spec, error) {
				return []blocks.Spec{&blocks.DWSep{Out: c.width, Kernel: c.kernel, Stride: strideField(stride), Act: c.act}}, nil
			}}
	case "ir":
		f = family{uses: usesOf(decKernel, decExpansion, decSE, decAct), roundWidth: sameWidth,
			layer: func(in blocks.Shape, c stageChoice, stride int) ([]blocks.Spec, error) {
				mid := max(1, int(math.Round(float64(in.C)*c.expansion)))
				m := &blocks.MBConv{Out: c.width, Mid: mid, Kernel: c.kernel, Stride: strideField(stride), Act: c.act}
				if c.se > 0 {
					m.SE.Squeeze = makeDivisible(float64(mid)*c.se, 8)
				}
				return []blocks.Spec{m}, nil
			}}
	case "ghost":
		f = family{uses: usesOf(decKernel, decExpansion, decSE), roundWidth: sameWidth,
			layer: func(in blocks.Shape, c stageChoice, stride int) ([]blocks.Spec, error) {
				mid := makeDivisible(float64(in.C)*c.expansion, 4)
				g := &blocks.Ghost{Mid: mid, Out: c.width, Kernel: c.kernel, Stride: strideField(stride)}
				if c.se > 0 {
					g.SE.Squeeze = makeDivisible(float64(mid)*c.se, 4)
				}
				return []blocks.Spec{g}, nil
			}}
	case "fire":
		f = family{roundWidth: func(w int) int { return max(2, (w+1)/2*2) },
			layer: func(in blocks.Shape, c stageChoice, stride int) ([]blocks.Spec, error) {
				fire := &blocks.Fire{Squeeze: max(1, c.width/8), E1: c.width / 2, E3: c.width / 2}
				if stride == 1 {
					return []blocks.Spec{fire}, nil
				}
				return []blocks.Spec{&blocks.Pool{Kernel: 3, Stride: strideField(stride), Pad: 1}, fire}, nil
			}}
	case "shuffle2":
		f = family{uses: usesOf(decKernel), roundWidth: func(w int) int { return max(2, (w+1)/2*2) },
			layer: func(in blocks.Shape, c stageChoice, stride int) ([]blocks.Spec, error) {
				u := &blocks.ShuffleV2{Out: c.width, Stride: strideField(stride), Kernel: c.kernel}
				if stride == 1 && in.C != c.width {
					return []blocks.Spec{pointwise(c.width), u}, nil
				}
				return []blocks.Spec{u}, nil
			}}
	case "shuffle1":
		const groups = 3
		f = family{uses: usesOf(decKernel), roundWidth: func(w int) int { return max(4*groups, (w+2*groups)/(4*groups)*(4*groups)) },
			layer: func(in blocks.Shape, c stageChoice, stride int) ([]blocks.Spec, error) {
				u := &blocks.ShuffleV1{Out: c.width, Groups: groups, Stride: strideField(stride), Kernel: c.kernel}
				if _, err := u.OutShape(in); err == nil {
					return []blocks.Spec{u}, nil
				}
				adapt := c.width
				if stride == 2 {
					adapt = c.width / 2
				}
				return []blocks.Spec{pointwise(adapt), u}, nil
			}}
	case "sqnxt":
		f = family{roundWidth: sameWidth,
			layer: func(in blocks.Shape, c stageChoice, stride int) ([]blocks.Spec, error) {
				return []blocks.Spec{&blocks.SqNxt{Out: c.width, Stride: strideField(stride)}}, nil
			}}
	default:
		return family{}, false
	}
	if _, ok := blocks.NewSpec(name); !ok {
		return family{}, false
	}
	return f, true
}

// pointwise is the 1x1 conv-BN-ReLU that adapts the width for the
// ShuffleNet families.
func pointwise(out int) blocks.Spec {
	return &blocks.Conv{Out: out, Kernel: 1, Act: blocks.ActReLU}
}

// knownFamilies lists the families familyFor knows, for errors.
func knownFamilies() []string {
	var out []string
	for _, name := range []string{"conv", "dwsep", "ir", "fire", "sqnxt", "shuffle1", "shuffle2", "ghost"} {
		if _, ok := familyFor(name); ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func usesOf(ds ...int) [decisionsPerStage]bool {
	var u [decisionsPerStage]bool
	for _, d := range ds {
		u[d] = true
	}
	return u
}

// makeDivisible rounds v to the nearest multiple of divisor, at least
// divisor, and not below 90% of v (the MobileNet/EfficientNet rule).
func makeDivisible(v float64, divisor int) int {
	n := max(divisor, int(v+float64(divisor)/2)/divisor*divisor)
	if float64(n) < 0.9*v {
		n += divisor
	}
	return n
}
