package export_test

import (
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"nas/export"
	"nas/onnximport"
	"nas/space"
	"nas/trainer"
)

// TestONNXMetadata: an exported model records its arch string, nas's
// version, and the dataset's normalisation and class names, and the
// importer reads them back.
func TestONNXMetadata(t *testing.T) {
	a, err := space.ParseArch("in1x28x28 cls10 | conv_o8_k3_s2_arelu | gap | linear_o10")
	if err != nil {
		t.Fatal(err)
	}
	g, err := a.Graph()
	if err != nil {
		t.Fatal(err)
	}
	w := export.RandomWeights(g, rand.New(rand.NewPCG(1, 1)), export.RandomOptions{})
	norm, classes, ok := export.DatasetMetadata("fashion-mnist")
	if !ok {
		t.Fatal("no metadata for fashion-mnist")
	}
	m, err := export.ONNX(g, w, export.ONNXOptions{Arch: a.String(), ProducerVersion: "v9.9.9", Norm: norm, ClassNames: classes})
	if err != nil {
		t.Fatal(err)
	}
	props := map[string]string{}
	for _, p := range m.GetMetadataProps() {
		props[p.GetKey()] = p.GetValue()
	}
	want := map[string]string{
		onnximport.MetaArch:    a.String(),
		onnximport.MetaVersion: "v9.9.9",
		onnximport.MetaMean:    "[0.286]",
		onnximport.MetaStd:     "[0.353]",
	}
	for k, v := range want {
		if props[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, props[k], v)
		}
	}
	var names []string
	if err := json.Unmarshal([]byte(props[onnximport.MetaClassNames]), &names); err != nil || len(names) != 10 || names[0] != "T-shirt/top" || names[9] != "Ankle boot" {
		t.Errorf("class names %q (%v)", props[onnximport.MetaClassNames], err)
	}

	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	r, err := onnximport.Decode(b, onnximport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	md := r.Metadata
	if md.Arch != a.String() || md.Version != "v9.9.9" || !slices.Equal(md.Mean, norm.Mean) || !slices.Equal(md.Std, norm.Std) ||
		!slices.Equal(md.ClassNames, trainer.FashionMNISTClassNames()) || !r.FromMetadata {
		t.Errorf("read back %+v (arch from metadata: %v)", md, r.FromMetadata)
	}

	// Without a dataset, only the arch and the version.
	m, err = export.ONNX(g, w, export.ONNXOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.GetMetadataProps() {
		if k := p.GetKey(); k != onnximport.MetaVersion && k != onnximport.MetaCommit {
			t.Errorf("metadata %s without a dataset or arch", k)
		}
	}
	if _, err := export.ONNX(g, w, export.ONNXOptions{ClassNames: []string{"a", "b"}}); err == nil {
		t.Error("2 class names for 10 outputs accepted")
	}
}

// SetDataset records a dataset's metadata only for a network of its
// channels and classes.
func TestSetDataset(t *testing.T) {
	var o export.ONNXOptions
	require.NoError(t, o.SetDataset("fashion-mnist", 1, 10))
	require.Equal(t, trainer.FashionMNISTClassNames(), o.ClassNames)
	require.Equal(t, trainer.FashionMNISTNorm().Mean, o.Norm.Mean)

	var bad export.ONNXOptions
	require.ErrorContains(t, bad.SetDataset("cifar10", 1, 10), "the dataset has 3 channels and 10 classes, the network takes 1 channels")
	require.ErrorContains(t, bad.SetDataset("imagenet", 3, 1000), "the dataset has 0 channels")
	require.Nil(t, bad.Norm)
}

// WeightsOrRandom reads the file when given, else draws from the seed.
func TestWeightsOrRandom(t *testing.T) {
	a, err := space.ParseArch("in1x8x8 cls3 | conv_o4_k3_arelu | gap | linear_o3")
	require.NoError(t, err)
	g, err := a.Graph()
	require.NoError(t, err)
	w, err := export.WeightsOrRandom(g, "", 7)
	require.NoError(t, err)
	require.Equal(t, export.RandomWeights(g, rand.New(rand.NewPCG(7, 0)), export.RandomOptions{}), w)
	path := filepath.Join(t.TempDir(), "w.safetensors")
	require.NoError(t, export.WriteWeights(path, g, w))
	r, err := export.WeightsOrRandom(g, path, 1)
	require.NoError(t, err)
	require.Equal(t, w, r)
}
