package trainer

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // registers JPEG with image.Decode
	_ "image/png"  // registers PNG with image.Decode
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"nas/blocks"
)

// FolderOptions says how images of a folder dataset become samples. Zero
// values mean "decide from the training images".
type FolderOptions struct {
	// Height and Width of a sample. Images of another size are resized
	// with bilinear interpolation (see resizeBilinear). 0 for both: the
	// size of the first training image (first class, first file by name).
	Height, Width int
	// Channels is 1 (grayscale) or 3 (RGB). 0: 1 if every training image
	// is stored as grayscale, else 3. Colour images made grayscale use
	// ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B, the standard
	// library's color.GrayModel); grayscale images made RGB repeat the
	// value in all three channels. Alpha is dropped (colours are taken
	// non-premultiplied).
	Channels int
}

// imageExtensions are the file name endings read as images (any case).
// Other files in a class folder are ignored, as are hidden files.
var imageExtensions = []string{".png", ".jpg", ".jpeg"}

// OpenImageFolder loads dir/train and dir/test, each holding one sub-folder
// per class (the torchvision ImageFolder layout). Classes are the
// sub-folders of dir/train in name order; dir/test may lack a class but may
// not have one that train lacks. Size and channels are decided from the
// training images (see FolderOptions) and apply to both. The normalisation
// is computed from the training set (ComputeNormalization).
func OpenImageFolder(dir string, o FolderOptions) (*Sets, error) {
	trainDir, testDir := filepath.Join(dir, "train"), filepath.Join(dir, "test")
	for _, d := range []string{trainDir, testDir} {
		if info, err := os.Stat(d); err != nil || !info.IsDir() {
			return nil, &FileError{Path: d, Err: fmt.Errorf("%w: no such folder", ErrNotFound),
				Fix: "a folder dataset needs DIR/train/CLASS/*.png|jpg and DIR/test/CLASS/*.png|jpg"}
		}
	}
	name := "folder:" + filepath.Base(dir)
	train, err := LoadImageFolder(name+"/train", trainDir, nil, o)
	if err != nil {
		return nil, err
	}
	train.Norm = ComputeNormalization(train)
	fixed := FolderOptions{Height: train.Shape.H, Width: train.Shape.W, Channels: train.Shape.C}
	test, err := LoadImageFolder(name+"/test", testDir, train.ClassNames, fixed)
	if err != nil {
		return nil, err
	}
	test.Norm = train.Norm
	return &Sets{Train: train, Test: test}, nil
}

// LoadImageFolder loads dir, which holds one sub-folder per class of PNG or
// JPEG images. classNames, when not nil, fixes the classes and their labels
// (a sub-folder not in it is an error; a missing one is allowed); nil takes
// the sub-folders in name order. The dataset's normalisation is the identity
// (pixel/255); set Norm, e.g. with ComputeNormalization, before training.
func LoadImageFolder(name, dir string, classNames []string, o FolderOptions) (*Dataset, error) {
	if o.Channels != 0 && o.Channels != 1 && o.Channels != 3 {
		return nil, fmt.Errorf("folder dataset %s: %d channels; want 1 (grayscale), 3 (RGB) or 0 (decide from the images)", dir, o.Channels)
	}
	if (o.Height == 0) != (o.Width == 0) || o.Height < 0 || o.Width < 0 {
		return nil, fmt.Errorf("folder dataset %s: size %dx%d; give both height and width, or neither", dir, o.Height, o.Width)
	}
	if int64(o.Height)*int64(o.Width) > maxImagePixels {
		return nil, fmt.Errorf("folder dataset %s: size %dx%d is above the limit of %d pixels a sample", dir, o.Height, o.Width, maxImagePixels)
	}
	files, labels, names, err := listImageFolder(dir, classNames)
	if err != nil {
		return nil, err
	}

	// First pass: read only the headers, to catch unreadable files early
	// and to decide the size and channels.
	allGray := true
	for k, f := range files {
		cfg, err := decodeImageConfig(f)
		if err != nil {
			return nil, err
		}
		if k == 0 && o.Height == 0 {
			o.Height, o.Width = cfg.Height, cfg.Width
		}
		if cfg.ColorModel != color.GrayModel && cfg.ColorModel != color.Gray16Model {
			allGray = false
		}
	}
	if o.Channels == 0 {
		o.Channels = 3
		if allGray {
			o.Channels = 1
		}
	}
	shape := blocks.Shape{C: o.Channels, H: o.Height, W: o.Width}

	size := shape.C * shape.H * shape.W
	if total := int64(len(files)) * int64(size); total > maxFolderBytes {
		return nil, &FileError{Path: dir, Err: fmt.Errorf("%w: %d images of %v make %d bytes, above the limit of %d bytes for one dataset", ErrFormat, len(files), shape, total, int64(maxFolderBytes)),
			Fix: "use fewer or smaller images (set the sample size)"}
	}
	pixels := make([]uint8, len(files)*size)
	var native []uint8 // reused for images that need resizing
	for k, f := range files {
		img, err := decodeImage(f)
		if err != nil {
			return nil, err
		}
		dst := pixels[k*size : (k+1)*size]
		b := img.Bounds()
		if b.Dx() == shape.W && b.Dy() == shape.H {
			imageToCHW(dst, img, shape.C)
			continue
		}
		n := shape.C * b.Dx() * b.Dy()
		if cap(native) < n {
			native = make([]uint8, n)
		}
		native = native[:n]
		imageToCHW(native, img, shape.C)
		resizeBilinear(dst, shape.H, shape.W, native, b.Dy(), b.Dx(), shape.C)
	}
	d, err := NewDataset(name, shape, names, pixels, labels, Normalization{})
	if err != nil {
		return nil, &FileError{Path: dir, Err: err}
	}
	return d, nil
}

// listImageFolder returns the image files of dir's class sub-folders, their
// labels and the class names.
func listImageFolder(dir string, classNames []string) (files []string, labels []int, names []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil, &FileError{Path: dir, Err: ErrNotFound}
		}
		return nil, nil, nil, &FileError{Path: dir, Err: err}
	}
	var classDirs []string
	for _, e := range entries { // os.ReadDir sorts by name
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			classDirs = append(classDirs, e.Name())
		}
	}
	if len(classDirs) == 0 {
		return nil, nil, nil, &FileError{Path: dir, Err: fmt.Errorf("%w: no class sub-folders", ErrFormat),
			Fix: "put the images of each class in a sub-folder named after the class"}
	}
	names = classNames
	if names == nil {
		names = classDirs
	}
	for _, c := range classDirs {
		label := slices.Index(names, c)
		if label < 0 {
			return nil, nil, nil, &FileError{Path: filepath.Join(dir, c),
				Err: fmt.Errorf("%w: class %q is not among the training classes %v", ErrFormat, c, names)}
		}
		classDir := filepath.Join(dir, c)
		ents, err := os.ReadDir(classDir)
		if err != nil {
			return nil, nil, nil, &FileError{Path: classDir, Err: err}
		}
		found := 0
		for _, e := range ents {
			ext := strings.ToLower(filepath.Ext(e.Name()))
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") || !slices.Contains(imageExtensions, ext) {
				continue
			}
			files = append(files, filepath.Join(classDir, e.Name()))
			labels = append(labels, label)
			found++
		}
		if found == 0 {
			return nil, nil, nil, &FileError{Path: classDir, Err: fmt.Errorf("%w: class folder has no images (%s)", ErrFormat, strings.Join(imageExtensions, ", ")),
				Fix: "add images or remove the folder"}
		}
	}
	return files, labels, names, nil
}

// Bounds on the images of a folder dataset, checked before anything is
// decoded: an image file's size, its pixels as its header gives them (a
// small PNG can claim a huge image), and the bytes of the whole dataset.
const (
	maxImageFileBytes = 1 << 28 // 256 MiB
	maxImagePixels    = 1 << 26 // 8192 x 8192
	maxFolderBytes    = 1 << 32 // 4 GiB of samples
)

func decodeImageConfig(path string) (image.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return image.Config{}, &FileError{Path: path, Err: err}
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.Size() > maxImageFileBytes {
		return image.Config{}, formatError(path, "file of %d bytes is above the limit of %d bytes for one image", info.Size(), maxImageFileBytes)
	}
	return checkImageConfig(f, path)
}

// checkImageConfig reads an image header and checks its size.
func checkImageConfig(r io.Reader, path string) (image.Config, error) {
	cfg, _, err := image.DecodeConfig(r)
	if err != nil {
		return image.Config{}, &FileError{Path: path, Err: fmt.Errorf("%w: not a readable PNG or JPEG image: %v", ErrFormat, err)}
	}
	if cfg.Width < 1 || cfg.Height < 1 {
		return image.Config{}, formatError(path, "image is %dx%d", cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxImagePixels {
		return image.Config{}, formatError(path, "image is %dx%d, %d pixels, above the limit of %d pixels; make it smaller", cfg.Width, cfg.Height, int64(cfg.Width)*int64(cfg.Height), maxImagePixels)
	}
	return cfg, nil
}

func decodeImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxImageFileBytes+1))
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	if len(b) > maxImageFileBytes {
		return nil, formatError(path, "file is above the limit of %d bytes for one image", maxImageFileBytes)
	}
	return decodeImageBytes(b, path)
}

// decodeImageBytes decodes a PNG or JPEG image held in b after checking
// the size its header gives; path names it in errors.
func decodeImageBytes(b []byte, path string) (image.Image, error) {
	cfg, err := checkImageConfig(bytes.NewReader(b), path)
	if err != nil {
		return nil, err
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, &FileError{Path: path, Err: fmt.Errorf("%w: not a readable PNG or JPEG image: %v", ErrFormat, err)}
	}
	if r := img.Bounds(); r.Dx() != cfg.Width || r.Dy() != cfg.Height {
		return nil, formatError(path, "image is %dx%d but its header says %dx%d", r.Dx(), r.Dy(), cfg.Width, cfg.Height)
	}
	return img, nil
}

// imageToCHW writes img into dst as channels x height x width bytes
// (channels 1: BT.601 luma; 3: non-premultiplied R, G, B).
func imageToCHW(dst []uint8, img image.Image, channels int) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	plane := w * h
	if g, ok := img.(*image.Gray); ok {
		for y := range h {
			row := g.Pix[y*g.Stride : y*g.Stride+w]
			for ch := range channels {
				copy(dst[ch*plane+y*w:], row)
			}
		}
		return
	}
	for y := range h {
		for x := range w {
			c := img.At(b.Min.X+x, b.Min.Y+y)
			i := y*w + x
			if channels == 1 {
				dst[i] = color.GrayModel.Convert(c).(color.Gray).Y
				continue
			}
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			dst[i], dst[plane+i], dst[2*plane+i] = n.R, n.G, n.B
		}
	}
}

// resizeBilinear resizes src (channels x inH x inW bytes) into dst
// (channels x outH x outW) by bilinear interpolation with half-pixel centres
// and edge clamping, rounding to the nearest byte: the same sampling as
// PyTorch's F.interpolate(mode="bilinear", align_corners=False,
// antialias=False). Shrinking by more than 2x therefore skips pixels
// (aliasing); give images near the target size.
func resizeBilinear(dst []uint8, outH, outW int, src []uint8, inH, inW, channels int) {
	type tap struct {
		i0, i1 int
		f      float32
	}
	taps := func(out, in int) []tap {
		t := make([]tap, out)
		scale := float64(in) / float64(out)
		for o := range t {
			s := (float64(o)+0.5)*scale - 0.5
			if s < 0 {
				s = 0
			}
			i0 := int(s)
			if i0 > in-1 {
				i0 = in - 1
			}
			i1 := min(i0+1, in-1)
			t[o] = tap{i0, i1, float32(s - float64(i0))}
		}
		return t
	}
	ys, xs := taps(outH, inH), taps(outW, inW)
	for ch := range channels {
		in := src[ch*inH*inW : (ch+1)*inH*inW]
		out := dst[ch*outH*outW : (ch+1)*outH*outW]
		for oy, ty := range ys {
			r0, r1 := in[ty.i0*inW:(ty.i0+1)*inW], in[ty.i1*inW:(ty.i1+1)*inW]
			for ox, tx := range xs {
				top := float32(r0[tx.i0]) + tx.f*(float32(r0[tx.i1])-float32(r0[tx.i0]))
				bottom := float32(r1[tx.i0]) + tx.f*(float32(r1[tx.i1])-float32(r1[tx.i0]))
				v := top + ty.f*(bottom-top)
				out[oy*outW+ox] = uint8(math.Round(float64(v)))
			}
		}
	}
}
