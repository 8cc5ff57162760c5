package trainer

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// idxBytes encodes an IDX file of unsigned bytes.
func idxBytes(magic uint32, dims []uint32, data []byte) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		_ = binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(data)
	return b.Bytes()
}

func gzipBytes(t *testing.T, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, err := zw.Write(raw)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return b.Bytes()
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

// synthIDX describes one split of a small synthetic MNIST-style dataset:
// n images of rows x cols whose pixel j of image i is (i*7 + j) % 256,
// labels i % classes.
func synthIDX(n, rows, cols, classes int) (images, labels []byte) {
	images = make([]byte, n*rows*cols)
	for i := range n {
		for j := range rows * cols {
			images[i*rows*cols+j] = byte((i*7 + j) % 256)
		}
	}
	labels = make([]byte, n)
	for i := range labels {
		labels[i] = byte(i % classes)
	}
	return
}

// writeIDXDir writes train (ntrain samples) and t10k (ntest) IDX files of
// 4x3 images into a new folder, gzipped or not.
func writeIDXDir(t *testing.T, ntrain, ntest int, gz bool) string {
	t.Helper()
	dir := t.TempDir()
	for _, s := range []struct {
		split string
		n     int
	}{{"train", ntrain}, {"t10k", ntest}} {
		img, lab := synthIDX(s.n, 4, 3, 10)
		ib := idxBytes(idxImagesMagic, []uint32{uint32(s.n), 4, 3}, img)
		lb := idxBytes(idxLabelsMagic, []uint32{uint32(s.n)}, lab)
		ext := ""
		if gz {
			ib, lb, ext = gzipBytes(t, ib), gzipBytes(t, lb), ".gz"
		}
		writeFile(t, filepath.Join(dir, s.split+"-images-idx3-ubyte"+ext), ib)
		writeFile(t, filepath.Join(dir, s.split+"-labels-idx1-ubyte"+ext), lb)
	}
	return dir
}

func TestLoadIDXDir(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "gzip"}[gz], func(t *testing.T) {
			dir := writeIDXDir(t, 25, 12, gz)
			sets, err := LoadIDXDir("synth", dir, MNISTClassNames(), MNISTNorm(), "")
			require.NoError(t, err)
			require.Equal(t, 25, sets.Train.Len())
			require.Equal(t, 12, sets.Test.Len())
			require.Equal(t, 1, sets.Shape().C)
			require.Equal(t, 4, sets.Shape().H)
			require.Equal(t, 3, sets.Shape().W)
			require.Equal(t, 10, sets.Classes())
			require.Equal(t, "synth/train", sets.Train.Name)
			img, lab := synthIDX(25, 4, 3, 10)
			for i := range 25 {
				require.Equal(t, img[i*12:(i+1)*12], sets.Train.Pixels(i))
				require.Equal(t, int(lab[i]), sets.Train.Label(i))
			}
			require.Equal(t, MNISTNorm(), sets.Train.Norm)
		})
	}
}

// TestIDXErrors checks that each kind of damage is an error naming the
// file and what is wrong.
func TestIDXErrors(t *testing.T) {
	img, lab := synthIDX(20, 4, 3, 10)
	goodImages := idxBytes(idxImagesMagic, []uint32{20, 4, 3}, img)
	goodLabels := idxBytes(idxLabelsMagic, []uint32{20}, lab)
	badLabels := append([]byte(nil), lab...)
	badLabels[5] = 10
	gzImages := gzipBytes(t, goodImages)
	brokenGzip := append([]byte(nil), gzImages...)
	brokenGzip[len(brokenGzip)-6] ^= 0xff // inside the CRC-32 trailer
	cases := []struct {
		name           string
		images, labels []byte
		badFile        string // "images" or "labels": the file the error must name
		want           string
	}{
		{"empty images", nil, goodLabels, "images", "shorter than an IDX header"},
		{"header only", goodImages[:10], goodLabels, "images", "ends inside the IDX header"},
		{"wrong magic", idxBytes(0x00000802, []uint32{20, 4, 3}, img), goodLabels, "images", "magic number 0x00000802, want 0x00000803"},
		{"labels as images", goodLabels, goodLabels, "images", "magic number 0x00000801"},
		{"truncated plain", goodImages[:len(goodImages)-5], goodLabels, "images", "truncated"},
		{"over-long", append(append([]byte(nil), goodImages...), 1, 2, 3), goodLabels, "images", "more data than the header"},
		{"truncated gzip", gzImages[:len(gzImages)/2], goodLabels, "images", "broken gzip stream"},
		{"broken gzip checksum", brokenGzip, goodLabels, "images", "broken gzip stream"},
		{"broken gzip header", []byte{0x1f, 0x8b, 0, 0, 0}, goodLabels, "images", "broken gzip header"},
		{"huge header", idxBytes(idxImagesMagic, []uint32{1 << 30, 1 << 10, 1 << 10}, nil), goodLabels, "images", "header is corrupt"},
		{"zero rows", idxBytes(idxImagesMagic, []uint32{20, 0, 3}, nil), goodLabels, "images", "dimension 1 of the header is 0"},
		{"count mismatch", goodImages, idxBytes(idxLabelsMagic, []uint32{19}, lab[:19]), "labels", "19 labels but"},
		{"label out of range", goodImages, idxBytes(idxLabelsMagic, []uint32{20}, badLabels), "labels", "label 10 of sample 5 is outside [0, 10)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			paths := map[string]string{
				"images": filepath.Join(dir, "x-images-idx3-ubyte"),
				"labels": filepath.Join(dir, "x-labels-idx1-ubyte"),
			}
			writeFile(t, paths["images"], c.images)
			writeFile(t, paths["labels"], c.labels)
			_, err := LoadIDX("x", paths["images"], paths["labels"], MNISTClassNames(), MNISTNorm())
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
			require.Contains(t, err.Error(), paths[c.badFile])
			require.True(t, errors.Is(err, ErrFormat), "%v is not ErrFormat", err)
		})
	}
}

func TestIDXMissingFiles(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadIDXDir("mnist", dir, MNISTClassNames(), MNISTNorm(), "")
	require.ErrorIs(t, err, ErrNotFound)
	require.Contains(t, err.Error(), filepath.Join(dir, "train-images-idx3-ubyte.gz"))
	require.Contains(t, err.Error(), "--data-dir DIR")

	// The default folder's message says how to install the package.
	_, err = openFashionMNIST("", dir)
	require.ErrorIs(t, err, ErrNotFound)
	require.Contains(t, err.Error(), "apt-get install -y dataset-fashion-mnist")
	_, err = openFashionMNIST(dir, DefaultFashionMNISTDir)
	require.ErrorIs(t, err, ErrNotFound)
	require.NotContains(t, err.Error(), "apt-get")

	// Test files missing while train files are there.
	full := writeIDXDir(t, 5, 5, true)
	require.NoError(t, os.Remove(filepath.Join(full, "t10k-labels-idx1-ubyte.gz")))
	_, err = LoadIDXDir("mnist", full, MNISTClassNames(), MNISTNorm(), "")
	require.ErrorIs(t, err, ErrNotFound)
	require.Contains(t, err.Error(), "t10k-labels-idx1-ubyte")
}

func TestIDXTrainTestShapeMismatch(t *testing.T) {
	dir := writeIDXDir(t, 5, 5, false)
	img, _ := synthIDX(5, 3, 4, 10)
	writeFile(t, filepath.Join(dir, "t10k-images-idx3-ubyte"), idxBytes(idxImagesMagic, []uint32{5, 3, 4}, img))
	_, err := LoadIDXDir("mnist", dir, MNISTClassNames(), MNISTNorm(), "")
	require.ErrorIs(t, err, ErrFormat)
	require.Contains(t, err.Error(), "train images are 1x4x3 but test images 1x3x4")
}

func FuzzReadIDX(f *testing.F) {
	img, _ := synthIDX(3, 2, 2, 10)
	good := idxBytes(idxImagesMagic, []uint32{3, 2, 2}, img)
	f.Add(good)
	f.Add(good[:7])
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write(good)
	_ = zw.Close()
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		dims, pixels, err := readIDX(bytes.NewReader(data), int64(len(data)), "fuzz", idxImagesMagic)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if len(dims) != 3 || dims[0]*dims[1]*dims[2] != len(pixels) {
			t.Fatalf("dims %v for %d bytes", dims, len(pixels))
		}
		// What was accepted writes back (uncompressed) to an IDX file that
		// reads to the same dimensions and bytes.
		raw := []uint32{uint32(dims[0]), uint32(dims[1]), uint32(dims[2])}
		enc := idxBytes(idxImagesMagic, raw, pixels)
		dims2, pixels2, err := readIDX(bytes.NewReader(enc), int64(len(enc)), "fuzz", idxImagesMagic)
		if err != nil || !slices.Equal(dims, dims2) || !bytes.Equal(pixels, pixels2) {
			t.Fatalf("round trip of %v: %v", dims, err)
		}
	})
}
