package onnximport_test

import (
	"testing"

	"nas/onnximport"
	"nas/space"
)

// FuzzImport feeds the decoder and the lowering mutated models: they must
// return an error or an arch whose weights fit it, never panic or allocate
// beyond the limits. The seeds are small models of every kind the importer
// lowers: a hand-built one and nas exports of its block families.
func FuzzImport(f *testing.F) {
	f.Add(validTiny().bytes(f))
	for _, s := range []string{
		"in3x8x8 cls4 | conv_o8_k3_s2_ahswish | ir_o8_m16_ahswish_se8 | ir_o16_m32_s2_k5_aswish_se4_seaswish_segsigmoid | conv_o32_k1_arelu6 | gap | conv_o16_k1_nobn_ahswish | dropout_p20 | linear_o4",
		"in3x16x16 cls4 | conv_o24_k3_s2_arelu | pool_k3_s2_p1 | shuffle2_o48_s2 | shuffle2_o48 | gap | linear_o4",
		"in3x16x16 cls4 | conv_o16_k3_s2_arelu_nobn_valid | pool_k3_s2_ceil | fire_sq4_e18_e38 | conv_o4_k1_arelu_nobn | gap",
		"in3x8x8 cls4 | conv_o8_k3_arelu | dwsep_o16_s2_arelu | ir_o16_m32_g2_arelu | pool_avg_k2 | gap | linear_o4",
	} {
		a, err := space.ParseArch(s)
		if err != nil {
			f.Fatal(err)
		}
		for _, fold := range []bool{false, true} {
			b, _ := exported(f, a, fold)
			f.Add(b)
			f.Add(withoutMetadata(f, b))
		}
	}
	lim := onnximport.Limits{FileBytes: 1 << 20, Nodes: 1000, TensorValues: 1 << 16, TotalValues: 1 << 18, Dim: 512}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := onnximport.Decode(data, onnximport.Options{Limits: lim})
		if err != nil {
			return
		}
		g, err := r.Arch.Graph()
		if err != nil {
			t.Fatalf("imported arch %s does not lower: %v", r.Arch, err)
		}
		for _, p := range g.Params() {
			if _, ok := r.Weights[p.Name]; !ok {
				t.Fatalf("imported arch %s: no weights for %s", r.Arch, p.Name)
			}
		}
	})
}
