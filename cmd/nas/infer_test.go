package main

import (
	"encoding/binary"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
	"nas/blocks/nn"
	"nas/space"
	"nas/trainer"
)

const inferArch = "in1x12x12 cls4 | conv_o6_k3_s2_ahswish | ir_o6_m12_se4 | gap | linear_o4"

func inferNet(t *testing.T, seed uint64) *blocks.Network {
	t.Helper()
	a, err := space.ParseArch(inferArch)
	require.NoError(t, err)
	g, err := a.Graph()
	require.NoError(t, err)
	n, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(seed, 0)))
	require.NoError(t, err)
	return n
}

func writeRaw(t *testing.T, x *nn.Tensor) string {
	t.Helper()
	var b []byte
	for _, v := range x.Data {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	p := filepath.Join(t.TempDir(), "x.f32")
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

func TestInferRawInputMatchesForward(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := nn.New(3, 1, 12, 12)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	path := writeRaw(t, x)

	// Seeded initialisation, and weights from a file.
	want := inferNet(t, 5).Forward(nil, x.Clone())
	code, out, errOut := runNas(t, "infer", inferArch, path, "--seed", "5", "--json")
	require.Equal(t, 0, code, errOut)
	var res inferResult
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Equal(t, []int{3, 4}, res.Shape)
	for i := range 3 {
		require.Equal(t, want.Data[i*4:(i+1)*4], res.Logits[i])
	}
	require.Equal(t, nn.Predictions(want), res.Top1)

	other := inferNet(t, 9)
	for _, p := range other.Params() { // make BN and biases matter too
		for i := range p.Data {
			p.Data[i] += 0.01 * float32(i%7)
		}
	}
	wpath := filepath.Join(t.TempDir(), "w.safetensors")
	require.NoError(t, trainer.SaveWeights(wpath, other, nil))
	want = other.Forward(nil, x.Clone())
	code, out, errOut = runNas(t, "infer", inferArch, "--file", path, "--weights", wpath, "--json")
	require.Equal(t, 0, code, errOut)
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Equal(t, want.Data[:4], res.Logits[0])

	// --input FILE, the flag's old meaning, still works, with a warning.
	code, out, errOut = runNas(t, "infer", inferArch, "--input", path, "--weights", wpath, "--json")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, errOut, "deprecated")
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Equal(t, want.Data[:4], res.Logits[0])
}

func TestInferImage(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 12, 12))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "x.png")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, png.Encode(f, img))
	require.NoError(t, f.Close())

	x := nn.New(1, 1, 12, 12)
	norm := trainer.FashionMNISTNorm()
	for i, p := range img.Pix {
		x.Data[i] = (float32(p)/255 - norm.Mean[0]) / norm.Std[0]
	}
	want := inferNet(t, 1).Forward(nil, x)
	code, out, errOut := runNas(t, "infer", inferArch, path, "--norm", "fashion-mnist", "--json")
	require.Equal(t, 0, code, errOut)
	var res inferResult
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	for i, v := range want.Data {
		require.InDelta(t, v, res.Logits[0][i], 1e-5)
	}

	big := image.NewRGBA(image.Rect(0, 0, 20, 12))
	big.Set(0, 0, color.White)
	bpath := filepath.Join(dir, "big.png")
	f, err = os.Create(bpath)
	require.NoError(t, err)
	require.NoError(t, png.Encode(f, big))
	require.NoError(t, f.Close())
	code, _, errOut = runNas(t, "infer", inferArch, bpath)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "20x12 pixels, the network takes 12x12")
}

func TestInferErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "x.f32")
	require.NoError(t, os.WriteFile(bad, make([]byte, 100), 0o644))
	code, _, errOut := runNas(t, "infer", inferArch, bad)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "not a whole number of 1x12x12 float32 samples")

	code, _, errOut = runNas(t, "infer", inferArch)
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "input FILE is required")

	code, _, errOut = runNas(t, "infer", "mobilenet_v2", bad, "--input", "1x12x12", "--input-shape", "3x12x12")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "--input-shape and --input cannot be given together")

	code, _, errOut = runNas(t, "infer", inferArch, bad, "--norm", "imagenet")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "--norm")

	code, _, errOut = runNas(t, "infer", inferArch, bad, "--weights", filepath.Join(t.TempDir(), "none.safetensors"))
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "none.safetensors")
}

// writeImage writes img as PNG or JPEG (by the name's extension) into dir.
func writeImage(t *testing.T, dir, name string, img image.Image) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	require.NoError(t, err)
	if filepath.Ext(name) == ".jpg" {
		require.NoError(t, jpeg.Encode(f, img, &jpeg.Options{Quality: 95}))
	} else {
		require.NoError(t, png.Encode(f, img))
	}
	require.NoError(t, f.Close())
	return path
}

// Every bad input of nas infer is refused with an error that names the
// file and says what to do; none panics.
func TestInferBadInputs(t *testing.T) {
	dir := t.TempDir()
	file := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	raw := func(name string, vals []float32) string {
		var b []byte
		for _, v := range vals {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		return file(name, b)
	}
	sample := 12 * 12
	nan := make([]float32, 2*sample)
	nan[sample+13] = float32(math.NaN())
	inf := make([]float32, sample)
	inf[7] = float32(math.Inf(1))
	rgb := image.NewRGBA(image.Rect(0, 0, 12, 12))
	for i := range rgb.Pix {
		rgb.Pix[i] = uint8(i * 13)
		if i%4 == 3 {
			rgb.Pix[i] = 255 // opaque
		}
	}
	huge := filepath.Join(dir, "huge.f32")
	f, err := os.Create(huge)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(trainer.MaxInputBytes+int64(4*sample))) // sparse: nothing written
	require.NoError(t, f.Close())

	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"empty", []string{file("empty.f32", nil)}, []string{"empty.f32 is empty", "576 bytes per 1x12x12 sample"}},
		{"wrong size", []string{file("short.f32", make([]byte, 4*sample+4))}, []string{"short.f32: 580 bytes is not a whole number of 1x12x12 float32 samples", "write N x 144 little-endian float32 values"}},
		{"NaN", []string{raw("nan.f32", nan)}, []string{"nan.f32: value 157 (sample 1, channel 0, row 1, column 1) is NaN", "finite numbers"}},
		{"Inf", []string{raw("inf.f32", inf)}, []string{"inf.f32: value 7 (sample 0, channel 0, row 0, column 7) is +Inf"}},
		{"huge", []string{huge}, []string{"huge.f32 is 268436032 bytes, more than the 256 MiB", "split it into files of at most 466033 samples"}},
		{"RGB PNG, 1 channel", []string{writeImage(t, dir, "rgb.png", rgb)}, []string{"rgb.png: a colour png image", "--grey"}},
		{"JPEG, 1 channel", []string{writeImage(t, dir, "rgb.jpg", rgb)}, []string{"rgb.jpg: a colour jpeg image", "--grey"}},
		{"norm channels", []string{writeImage(t, dir, "grey.png", image.NewGray(image.Rect(0, 0, 12, 12))), "--norm", "cifar10"},
			[]string{"--norm cifar10: the normalisation has statistics for 3 channels, the network takes 1"}},
		{"norm on raw", []string{raw("ok.f32", make([]float32, sample)), "--norm", "mnist"}, []string{"ok.f32: raw float32 values are used as they are", "normalise the values in the file"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runNas(t, append([]string{"infer", inferArch, "--json"}, c.args...)...)
			require.Equal(t, exitError, code, errOut)
			require.Empty(t, out)
			for _, w := range c.want {
				require.Contains(t, errOut, w)
			}
			require.NotContains(t, errOut, "panic")
		})
	}

	// --grey converts colour to BT.601 luma; a grey JPEG needs no --grey.
	x := nn.New(1, 1, 12, 12)
	for i := range x.Data {
		p := rgb.Pix[4*i : 4*i+3]
		x.Data[i] = 0.299*float32(p[0])/255 + 0.587*float32(p[1])/255 + 0.114*float32(p[2])/255
	}
	want := inferNet(t, 1).Forward(nil, x)
	code, out, errOut := runNas(t, "infer", inferArch, filepath.Join(dir, "rgb.png"), "--grey", "--json")
	require.Equal(t, 0, code, errOut)
	var res inferResult
	require.NoError(t, json.Unmarshal([]byte(out), &res), "the warning goes to stderr: stdout stays JSON")
	for i, v := range want.Data {
		require.InDelta(t, v, res.Logits[0][i], 1e-5)
	}
	require.Contains(t, errOut, "warning: no --weights: the weights are random (seed 1), and the predictions mean nothing")
	grey := image.NewGray(image.Rect(0, 0, 12, 12))
	code, _, errOut = runNas(t, "infer", inferArch, writeImage(t, dir, "grey.jpg", grey), "--json")
	require.Equal(t, 0, code, errOut)
}
