package blocks

import "testing"

// TestConvPaddingAndPReLU covers the settings the SqueezeNet, SqueezeNext
// and ESPNetv2 stems need: no padding, explicit padding, PReLU slopes.
func TestConvPaddingAndPReLU(t *testing.T) {
	runBlockCases(t, []blockCase{
		// torchvision squeezenet1_0 stem: 224 -> (224-7)/2+1 = 109; 3*96*49
		// weights + 96 biases.
		{name: "valid", spec: &Conv{Out: 96, Kernel: 7, Stride: 2, Valid: true, NoBN: true, Act: ActReLU}, in: Shape{3, 224, 224},
			out: Shape{96, 109, 109}, cost: Cost{Params: 14112 + 96, MACs: 14112 * 109 * 109}},
		// SqueezeNext stem at 224: (224+2-7)/2+1 = 110.
		{name: "pad 1", spec: &Conv{Out: 64, Kernel: 7, Stride: 2, Pad: 1, Act: ActReLU}, in: Shape{3, 224, 224},
			out: Shape{64, 110, 110}, cost: Cost{Params: 9408 + 128, MACs: 9408 * 110 * 110}},
		// ESPNetv2 stem: 3*32*9 weights, BN 64, PReLU 32.
		{name: "prelu", spec: &Conv{Out: 32, Kernel: 3, Stride: 2, Act: ActPReLU}, in: Shape{3, 224, 224},
			out: Shape{32, 112, 112}, cost: Cost{Params: 864 + 64 + 32, MACs: 864 * 112 * 112}},
		{name: "negative pad", spec: &Conv{Out: 8, Kernel: 3, Pad: -1}, in: Shape{3, 8, 8}, wantErr: "padding -1", field: "p"},
		{name: "pad and valid", spec: &Conv{Out: 8, Kernel: 3, Pad: 1, Valid: true}, in: Shape{3, 8, 8}, wantErr: "contradicts valid", field: "p"},
		{name: "valid too large", spec: &Conv{Out: 8, Kernel: 7, Valid: true}, in: Shape{3, 5, 5}, wantErr: "does not fit", field: "k"},
	})
	if err := (SE{Squeeze: 4, Inner: ActPReLU}).check("ghost", 16); err == nil {
		t.Error("SE accepted a PReLU, whose slopes it does not count")
	}
}
