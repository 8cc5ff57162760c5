package trainer

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, png.Encode(f, img))
	require.NoError(t, f.Close())
}

func grayImage(w, h int, v func(x, y int) uint8) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			g.SetGray(x, y, color.Gray{Y: v(x, y)})
		}
	}
	return g
}

func rgbImage(w, h int, c color.NRGBA) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetNRGBA(x, y, c)
		}
	}
	return m
}

// writeGrayFolder writes root/{train,test}/{ant,bee}/ with 2 train and 1
// test 4x3 grayscale PNGs per class; pixel (x, y) of image k is 10*k+x+4*y.
func writeGrayFolder(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	k := 0
	for _, split := range []string{"train", "test"} {
		n := map[string]int{"train": 2, "test": 1}[split]
		for _, class := range []string{"bee", "ant"} {
			for i := range n {
				kk := k
				writePNG(t, filepath.Join(root, split, class, string(rune('a'+i))+".png"),
					grayImage(4, 3, func(x, y int) uint8 { return uint8(10*kk + x + 4*y) }))
				k++
			}
		}
	}
	return root
}

func TestOpenImageFolderGray(t *testing.T) {
	root := writeGrayFolder(t)
	writeFile(t, filepath.Join(root, "train", "ant", "notes.txt"), []byte("ignored"))
	writeFile(t, filepath.Join(root, "train", "README"), []byte("ignored"))
	sets, err := OpenDataset("folder", root)
	require.NoError(t, err)
	require.Equal(t, []string{"ant", "bee"}, sets.ClassNames())
	require.Equal(t, 1, sets.Shape().C)
	require.Equal(t, 3, sets.Shape().H)
	require.Equal(t, 4, sets.Shape().W)
	require.Equal(t, 4, sets.Train.Len())
	require.Equal(t, 2, sets.Test.Len())
	require.Equal(t, []int{2, 2}, sets.Train.ClassCounts())
	// Written bee first (k=0,1), then ant (k=2,3); loaded ant first.
	require.Equal(t, 0, sets.Train.Label(0))
	px := sets.Train.Pixels(0)
	require.Equal(t, uint8(20), px[0])
	require.Equal(t, uint8(20+3+4*2), px[11])
	require.Equal(t, sets.Train.Norm, sets.Test.Norm)
	require.Equal(t, ComputeNormalization(sets.Train), sets.Train.Norm)
}

func TestImageFolderChannelsAndResize(t *testing.T) {
	root := t.TempDir()
	red := color.NRGBA{R: 200, G: 100, B: 50, A: 255}
	writePNG(t, filepath.Join(root, "a", "1.png"), rgbImage(6, 4, red))
	writePNG(t, filepath.Join(root, "b", "1.png"), grayImage(3, 2, func(x, y int) uint8 { return 77 }))
	f, err := os.Create(filepath.Join(root, "b", "2.JPG"))
	require.NoError(t, err)
	require.NoError(t, jpeg.Encode(f, rgbImage(12, 8, red), &jpeg.Options{Quality: 100}))
	require.NoError(t, f.Close())

	// Size from the first image (a/1.png: 6x4); colour, so RGB.
	d, err := LoadImageFolder("mixed", root, nil, FolderOptions{})
	require.NoError(t, err)
	require.Equal(t, 3, d.Shape.C)
	require.Equal(t, 4, d.Shape.H)
	require.Equal(t, 6, d.Shape.W)
	require.Equal(t, 3, d.Len())
	plane := 24
	require.Equal(t, []uint8{200, 100, 50}, []uint8{d.Pixels(0)[0], d.Pixels(0)[plane], d.Pixels(0)[2*plane]})
	// The gray image, resized up, has 77 in every channel.
	for _, p := range d.Pixels(1) {
		require.Equal(t, uint8(77), p)
	}
	// The JPEG, resized down, stays close to the colour.
	j := d.Pixels(2)
	require.InDelta(t, 200, float64(j[0]), 3)
	require.InDelta(t, 100, float64(j[plane]), 3)
	require.InDelta(t, 50, float64(j[2*plane]), 3)

	// Forced grayscale at a given size: BT.601 luma of the colour.
	d, err = LoadImageFolder("mixed", root, nil, FolderOptions{Height: 5, Width: 5, Channels: 1})
	require.NoError(t, err)
	require.Equal(t, 1, d.Shape.C)
	require.Equal(t, 25, d.SampleSize())
	luma := 0.299*200 + 0.587*100 + 0.114*50
	require.InDelta(t, luma, float64(d.Pixels(0)[12]), 1)
	require.Equal(t, uint8(77), d.Pixels(1)[7])
}

// TestResizeBilinearTorch compares with PyTorch 1.13 on a 4x5 image; the
// values were printed by Debian's /usr/bin/python3 with
//
//	x = torch.tensor(src, dtype=torch.float32).reshape(1, 1, 4, 5)
//	F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=False)
func TestResizeBilinearTorch(t *testing.T) {
	src := []uint8{0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 250}
	cases := []struct {
		h, w int
		want []float64
	}{
		{7, 3, []float64{3.3333, 20.0000, 36.6667, 21.1905, 37.8571, 54.5238, 49.7619, 66.4286, 83.0952, 78.3333, 95.0000, 111.6667, 106.9048, 123.5714, 143.0952, 135.4762, 152.1429, 194.5238, 153.3333, 170.0000, 226.6667}},
		{2, 8, []float64{25.0000, 29.3750, 35.6250, 41.8750, 48.1250, 54.3750, 60.6250, 65.0000, 125.0000, 129.3750, 135.6250, 141.8750, 148.1250, 154.3750, 177.5000, 195.0000}},
		{4, 5, []float64{0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 250}},
	}
	for _, c := range cases {
		dst := make([]uint8, c.h*c.w)
		resizeBilinear(dst, c.h, c.w, src, 4, 5, 1)
		for i, want := range c.want {
			require.LessOrEqual(t, math.Abs(float64(dst[i])-want), 0.5+1e-3, "%dx%d pixel %d: got %d, torch %.4f", c.h, c.w, i, dst[i], want)
		}
	}
}

func TestImageFolderErrors(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, root string) string // returns the path the error must name
		err   error
		want  string
	}{
		{"empty class folder", func(t *testing.T, root string) string {
			p := filepath.Join(root, "train", "cat")
			require.NoError(t, os.MkdirAll(p, 0o755))
			return p
		}, ErrFormat, "class folder has no images (.png, .jpg, .jpeg) (add images or remove the folder)"},
		{"unreadable image", func(t *testing.T, root string) string {
			p := filepath.Join(root, "train", "ant", "broken.png")
			writeFile(t, p, []byte("\x89PNG\r\n\x1a\nthis is not a png"))
			return p
		}, ErrFormat, "not a readable PNG or JPEG image"},
		{"truncated image", func(t *testing.T, root string) string {
			p := filepath.Join(root, "train", "ant", "a.png")
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			writeFile(t, p, b[:len(b)-20])
			return p
		}, ErrFormat, "not a readable PNG or JPEG image"},
		{"test class not in train", func(t *testing.T, root string) string {
			p := filepath.Join(root, "test", "cow")
			writePNG(t, filepath.Join(p, "x.png"), grayImage(4, 3, func(x, y int) uint8 { return 0 }))
			return p
		}, ErrFormat, `class "cow" is not among the training classes [ant bee]`},
		{"no test folder", func(t *testing.T, root string) string {
			p := filepath.Join(root, "test")
			require.NoError(t, os.RemoveAll(p))
			return p
		}, ErrNotFound, "DIR/test/CLASS"},
		{"huge image claimed", func(t *testing.T, root string) string {
			p := filepath.Join(root, "train", "ant", "bomb.png")
			writeFile(t, p, pngClaiming(t, 100000, 100000))
			return p
		}, ErrFormat, "image is 100000x100000, 10000000000 pixels, above the limit of 67108864 pixels"},
		{"wide image claimed", func(t *testing.T, root string) string {
			p := filepath.Join(root, "train", "bee", "wide.png")
			writeFile(t, p, pngClaiming(t, 1<<30, 1))
			return p
		}, ErrFormat, "above the limit of 67108864 pixels"},
		{"no class folders", func(t *testing.T, root string) string {
			p := filepath.Join(root, "train")
			require.NoError(t, os.RemoveAll(p))
			writeFile(t, filepath.Join(p, "x.png"), nil)
			return p
		}, ErrFormat, "no class sub-folders"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := writeGrayFolder(t)
			path := c.setup(t, root)
			_, err := OpenImageFolder(root, FolderOptions{})
			require.ErrorIs(t, err, c.err)
			require.Contains(t, err.Error(), path)
			require.Contains(t, err.Error(), c.want)
		})
	}
}

// pngClaiming is a small valid PNG whose header claims w x h pixels (the
// IHDR chunk's CRC recomputed): a decompression bomb's first bytes.
func pngClaiming(t *testing.T, w, h uint32) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, grayImage(2, 2, func(x, y int) uint8 { return 1 })))
	b := buf.Bytes()
	// Signature (8), IHDR length (4), "IHDR" (4), width, height, ...
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// FuzzDecodeImage holds that decodeImageBytes never panics, bounds what it
// decodes, and that an image it accepts goes through the loader's
// conversions (CHW in 1 and 3 channels, a resize) and, being opaque,
// survives a PNG round trip unchanged.
func FuzzDecodeImage(f *testing.F) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, grayImage(3, 2, func(x, y int) uint8 { return uint8(40*x + y) })); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	buf.Reset()
	if err := png.Encode(&buf, rgbImage(2, 3, color.NRGBA{R: 200, G: 10, B: 30, A: 255})); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	buf.Reset()
	if err := jpeg.Encode(&buf, rgbImage(8, 8, color.NRGBA{R: 1, G: 2, B: 3, A: 255}), nil); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := decodeImageBytes(b, "fuzz.png")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.png: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		r := img.Bounds()
		if int64(r.Dx())*int64(r.Dy()) > maxImagePixels || r.Dx() < 1 || r.Dy() < 1 {
			t.Fatalf("accepted a %dx%d image", r.Dx(), r.Dy())
		}
		if r.Dx()*r.Dy() > 1<<16 {
			return // keep executions fast
		}
		var chw [2][]uint8
		for k, c := range []int{1, 3} {
			chw[k] = make([]uint8, c*r.Dx()*r.Dy())
			imageToCHW(chw[k], img, c)
			resizeBilinear(make([]uint8, c*5*4), 5, 4, chw[k], r.Dy(), r.Dx(), c)
		}
		if o, ok := img.(interface{ Opaque() bool }); !ok || !o.Opaque() {
			return
		}
		var out bytes.Buffer
		if err := png.Encode(&out, img); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		back, err := decodeImageBytes(out.Bytes(), "fuzz.png")
		if err != nil {
			t.Fatalf("re-encoded image does not decode: %v", err)
		}
		for k, c := range []int{1, 3} {
			got := make([]uint8, c*r.Dx()*r.Dy())
			imageToCHW(got, back, c)
			if !bytes.Equal(got, chw[k]) {
				t.Fatalf("PNG round trip changed the %d-channel pixels", c)
			}
		}
	})
}

func TestImageFolderOptionErrors(t *testing.T) {
	root := writeGrayFolder(t)
	for _, o := range []FolderOptions{{Channels: 2}, {Height: 5}, {Height: -1, Width: -1}, {Height: 100000, Width: 100000}} {
		_, err := OpenImageFolder(root, o)
		require.Error(t, err, "%+v", o)
	}
	_, err := OpenDataset("folder", "")
	require.ErrorContains(t, err, "a folder is required")
	_, err = OpenDataset("imagenet", "")
	require.ErrorContains(t, err, `unknown dataset "imagenet"; want one of fashion-mnist, mnist, cifar10, folder`)
}
