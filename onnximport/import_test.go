package onnximport_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"nas/blocks"
	"nas/blocks/nn"
	"nas/export"
	"nas/internal/onnxpb"
	"nas/onnximport"
	"nas/space"
)

// exported writes arch a with seeded varied weights as nas's ONNX model.
func exported(t testing.TB, a *space.Arch, fold bool) ([]byte, export.Weights) {
	t.Helper()
	g, err := a.Graph()
	if err != nil {
		t.Fatal(err)
	}
	w := export.RandomWeights(g, rand.New(rand.NewPCG(3, 4)), export.RandomOptions{Varied: true})
	m, err := export.ONNX(g, w, export.ONNXOptions{Name: a.Name, Arch: a.String(), FoldBN: fold})
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b, w
}

// withoutMetadata drops the arch nas records, so that the importer has to
// find the blocks from the graph alone.
func withoutMetadata(t testing.TB, b []byte) []byte {
	t.Helper()
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
	m.MetadataProps = nil
	m.DocString = nil
	out, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// forward runs arch a with weights w on x in eval mode.
func forward(t testing.TB, a *space.Arch, w map[string][]float32, x *nn.Tensor) []float32 {
	t.Helper()
	g, err := a.Graph()
	if err != nil {
		t.Fatal(err)
	}
	net, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := net.LoadState(w); err != nil {
		t.Fatal(err)
	}
	return net.Forward(nil, x).Data
}

func relErr(a, b []float32) float64 {
	scale, worst := 0.0, 0.0
	for i := range b {
		scale = max(scale, math.Abs(float64(b[i])))
		worst = max(worst, math.Abs(float64(a[i]-b[i])))
	}
	return worst / max(scale, 1e-30)
}

// zooNames lists the zoo networks the importer takes. ESPNetv2 (PReLU, and
// units that read the network's input) it refuses.
func zooNames() []string {
	var out []string
	for _, e := range space.Zoo() {
		if e.Family != "espnetv2" {
			out = append(out, e.Name)
		}
	}
	return out
}

// TestZooThroughONNX exports zoo networks with nas's exporter and imports
// them three ways: with the metadata (the same arch comes back), from the
// graph alone (same cost and outputs), and from the graph with BN folded
// (BN rebuilt, same cost and outputs).
func TestZooThroughONNX(t *testing.T) {
	names := zooNames()
	if testing.Short() {
		names = []string{"mobilenet_v2", "mobilenet_v3_small", "shufflenet_v2_x0_5", "squeezenet1_1"}
	}
	x := nn.New(2, 3, 64, 64)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			a, err := space.ZooArch(name, space.ZooOptions{Input: blocks.Shape{C: 3, H: 64, W: 64}, Classes: 10})
			if err != nil {
				t.Fatal(err)
			}
			want, _ := a.Cost()
			b, w := exported(t, a, false)
			ref := forward(t, a, w, x)

			r, err := onnximport.Decode(b, onnximport.Options{})
			if err != nil {
				t.Fatalf("with metadata: %v", err)
			}
			if !r.FromMetadata || r.Arch.String() != a.String() {
				t.Errorf("with metadata: got %s (from metadata: %v), want %s", r.Arch, r.FromMetadata, a)
			}
			for k, v := range w {
				if !slices.Equal(r.Weights[k], v) {
					t.Errorf("with metadata: tensor %s differs", k)
					break
				}
			}

			for _, fold := range []bool{false, true} {
				b := b
				if fold {
					b, _ = exported(t, a, true)
				}
				r, err := onnximport.Decode(withoutMetadata(t, b), onnximport.Options{})
				if err != nil {
					t.Fatalf("fold %v: %v", fold, err)
				}
				got, err := r.Arch.Cost()
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("fold %v: cost %+v, want %+v\n got %s\nwant %s", fold, got, want, r.Arch, a)
				}
				if bns := countBN(t, a); (fold && r.RebuiltBN != bns) || (!fold && r.RebuiltBN != 0) {
					t.Errorf("fold %v: %d batch norms rebuilt, the network has %d", fold, r.RebuiltBN, bns)
				}
				if e := relErr(forward(t, r.Arch, r.Weights, x), ref); e > 1e-5 {
					t.Errorf("fold %v: outputs differ from the original network's by %.2e (relative)", fold, e)
				}
			}
		})
	}
}

func countBN(t testing.TB, a *space.Arch) int {
	g, err := a.Graph()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, op := range g.Ops {
		if op.Kind == blocks.OpBN {
			n++
		}
	}
	return n
}

// TestESPNetRefused: a network with an operator nas's importable blocks do
// not have is refused, naming the node and the operator.
func TestESPNetRefused(t *testing.T) {
	a, err := space.ZooArch("espnetv2", space.ZooOptions{Input: blocks.Shape{C: 3, H: 64, W: 64}, Classes: 10})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := exported(t, a, false)
	_, err = onnximport.Decode(b, onnximport.Options{})
	var ue *onnximport.UnsupportedError
	if !errors.As(err, &ue) || ue.Op != "PRelu" || ue.Node == "" {
		t.Errorf("got %v, want PRelu refused", err)
	}
}
