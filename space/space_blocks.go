package space

import (
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
// here and its block type is registered.
func familyFor(name string) (family, bool) {
	var f family
	switch name {
	case "conv":
		// A plain conv-BN-act layer: kernel, activation and width.
		f = family{
			uses:       usesOf(decKernel, decAct),
			roundWidth: sameWidth,
			layer: func(in blocks.Shape, c stageChoice, stride int) ([]blocks.Spec, error) {
				return []blocks.Spec{&blocks.Conv{Out: c.width, Kernel: c.kernel, Stride: strideField(stride), Act: c.act}}, nil
			},
		}
	default:
		return family{}, false
	}
	if _, ok := blocks.NewSpec(name); !ok {
		return family{}, false
	}
	return f, true
}

// knownFamilies lists the families familyFor knows, for errors.
func knownFamilies() []string {
	var out []string
	for _, name := range []string{"conv", "dwsep", "ir", "fire", "sqnxt", "shuffle1", "shuffle2", "ghost", "eesp"} {
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
