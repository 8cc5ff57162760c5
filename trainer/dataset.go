package trainer

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"nas/blocks"
)

// Dataset is a labelled set of images held in memory as uint8 pixels, one
// sample after another, each in C x H x W order (channel planes, then rows).
// Pixels are turned into normalised float32 only when a batch is built (see
// Batches), so a dataset costs one byte per pixel.
//
// A Dataset returned by Select, SplitValidation or Subset is a view: it
// shares the pixel storage of the dataset it came from and holds only the
// list of sample positions. Build datasets with NewDataset or a loader
// (OpenDataset, LoadIDX, LoadCIFAR10, LoadImageFolder), not as literals.
// They are read-only once built and safe to share between goroutines.
type Dataset struct {
	// Name says where the samples came from ("fashion-mnist/train").
	Name string
	// Shape is C x H x W of one sample.
	Shape blocks.Shape
	// ClassNames has one entry per class; labels index into it.
	ClassNames []string
	// Norm is the per-channel mean and standard deviation, in pixel/255
	// units, that Batches subtracts and divides by.
	Norm Normalization

	store *samples
	index []int // positions in store; nil means all of them, in order
}

// samples is the storage that views of one dataset share.
type samples struct {
	pixels []uint8 // n * C*H*W
	labels []int32 // n
}

// Normalization is a per-channel mean and standard deviation in pixel/255
// units: a pixel p of channel c becomes (p/255 - Mean[c]) / Std[c].
type Normalization struct {
	Mean []float32
	Std  []float32
}

// Normalisation statistics of the training sets, per channel, as published
// with torchvision's examples and checked against the real files by this
// package's tests (Fashion-MNIST) where they are installed. Each call
// returns a fresh copy.

// FashionMNISTNorm is the mean and std of the 60,000 Fashion-MNIST training
// images.
func FashionMNISTNorm() Normalization {
	return Normalization{Mean: []float32{0.2860}, Std: []float32{0.3530}}
}

// MNISTNorm is the mean and std of the 60,000 MNIST training images.
func MNISTNorm() Normalization {
	return Normalization{Mean: []float32{0.1307}, Std: []float32{0.3081}}
}

// CIFAR10Norm is the per-channel (R, G, B) mean and std over all pixels of
// the 50,000 CIFAR-10 training images (not the often copied
// 0.2023/0.1994/0.2010, which are averages of per-image stds).
func CIFAR10Norm() Normalization {
	return Normalization{
		Mean: []float32{0.4914, 0.4822, 0.4465},
		Std:  []float32{0.2470, 0.2435, 0.2616},
	}
}

// NewDataset builds a dataset from pixels (n samples of shape.C*H*W bytes,
// each C x H x W) and labels (n values in [0, len(classNames))). The slices
// are kept, not copied. A zero norm means mean 0 and std 1 per channel
// (plain pixel/255); use ComputeNormalization to fill it from the data.
func NewDataset(name string, shape blocks.Shape, classNames []string, pixels []uint8, labels []int, norm Normalization) (*Dataset, error) {
	if shape.C < 1 || shape.H < 1 || shape.W < 1 {
		return nil, fmt.Errorf("dataset %s: shape %v: every dimension must be at least 1", name, shape)
	}
	if len(classNames) < 1 {
		return nil, fmt.Errorf("dataset %s: no class names", name)
	}
	size := shape.C * shape.H * shape.W
	if len(pixels) != len(labels)*size {
		return nil, fmt.Errorf("dataset %s: %d pixel bytes for %d labels of shape %v (want %d)",
			name, len(pixels), len(labels), shape, len(labels)*size)
	}
	stored := make([]int32, len(labels))
	for i, l := range labels {
		if l < 0 || l >= len(classNames) {
			return nil, fmt.Errorf("dataset %s: sample %d has label %d, outside [0, %d)", name, i, l, len(classNames))
		}
		stored[i] = int32(l)
	}
	if norm.Mean == nil && norm.Std == nil {
		norm = identityNorm(shape.C)
	}
	if err := norm.check(shape.C); err != nil {
		return nil, fmt.Errorf("dataset %s: %w", name, err)
	}
	return &Dataset{
		Name:       name,
		Shape:      shape,
		ClassNames: classNames,
		Norm:       norm,
		store:      &samples{pixels: pixels, labels: stored},
	}, nil
}

func identityNorm(channels int) Normalization {
	n := Normalization{Mean: make([]float32, channels), Std: make([]float32, channels)}
	for c := range n.Std {
		n.Std[c] = 1
	}
	return n
}

func (n Normalization) check(channels int) error {
	if len(n.Mean) != channels || len(n.Std) != channels {
		return fmt.Errorf("normalization has %d means and %d stds for %d channels", len(n.Mean), len(n.Std), channels)
	}
	for c, s := range n.Std {
		if !(s > 0) {
			return fmt.Errorf("normalization std of channel %d is %v; it must be positive", c, s)
		}
	}
	return nil
}

// Len is the number of samples.
func (d *Dataset) Len() int {
	if d.index != nil {
		return len(d.index)
	}
	return len(d.store.labels)
}

// Classes is the number of classes.
func (d *Dataset) Classes() int { return len(d.ClassNames) }

// SampleSize is the number of bytes (pixels times channels) of one sample.
func (d *Dataset) SampleSize() int { return d.Shape.C * d.Shape.H * d.Shape.W }

func (d *Dataset) position(i int) int {
	if d.index != nil {
		return d.index[i]
	}
	return i
}

// Label returns the class of sample i.
func (d *Dataset) Label(i int) int { return int(d.store.labels[d.position(i)]) }

// Pixels returns sample i as C x H x W bytes. The slice aliases the
// dataset's storage: do not modify it.
func (d *Dataset) Pixels(i int) []uint8 {
	size := d.SampleSize()
	p := d.position(i) * size
	return d.store.pixels[p : p+size : p+size]
}

// ClassCounts returns how many samples each class has.
func (d *Dataset) ClassCounts() []int {
	counts := make([]int, d.Classes())
	for i := range d.Len() {
		counts[d.Label(i)]++
	}
	return counts
}

// Select returns a view of the samples at the given positions of d, in that
// order. Positions must be in [0, d.Len()); repeats are allowed.
func (d *Dataset) Select(positions []int) (*Dataset, error) {
	index := make([]int, len(positions))
	for k, i := range positions {
		if i < 0 || i >= d.Len() {
			return nil, fmt.Errorf("dataset %s: position %d of the selection is %d, outside [0, %d)", d.Name, k, i, d.Len())
		}
		index[k] = d.position(i)
	}
	v := *d
	v.index = index
	return &v, nil
}

// ComputeNormalization returns the per-channel mean and standard deviation
// of d's pixels in pixel/255 units (population std over all pixels of all
// samples).
func ComputeNormalization(d *Dataset) Normalization {
	c, plane := d.Shape.C, d.Shape.H*d.Shape.W
	sum := make([]float64, c)
	sumSq := make([]float64, c)
	for i := range d.Len() {
		px := d.Pixels(i)
		for ch := range c {
			var s, s2 uint64
			for _, p := range px[ch*plane : (ch+1)*plane] {
				s += uint64(p)
				s2 += uint64(p) * uint64(p)
			}
			sum[ch] += float64(s)
			sumSq[ch] += float64(s2)
		}
	}
	n := Normalization{Mean: make([]float32, c), Std: make([]float32, c)}
	count := float64(d.Len() * plane)
	for ch := range c {
		if count == 0 {
			n.Std[ch] = 1
			continue
		}
		mean := sum[ch] / count / 255
		variance := sumSq[ch]/count/(255*255) - mean*mean
		std := 1.0
		if variance > 1e-12 {
			std = math.Sqrt(variance)
		}
		n.Mean[ch] = float32(mean)
		n.Std[ch] = float32(std)
	}
	return n
}

// Sets is what OpenDataset returns: a training set (from which the
// validation split is carved) and a test set for final reports only.
type Sets struct {
	Train *Dataset
	Test  *Dataset
}

// Shape is C x H x W of one sample.
func (s *Sets) Shape() blocks.Shape { return s.Train.Shape }

// Classes is the number of classes.
func (s *Sets) Classes() int { return s.Train.Classes() }

// ClassNames names the classes; labels index into it.
func (s *Sets) ClassNames() []string { return s.Train.ClassNames }

// Errors that dataset loading wraps; test for them with errors.Is.
var (
	// ErrNotFound is a dataset file or folder that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrFormat is a dataset file whose contents do not follow its format:
	// a wrong magic number, a truncated or over-long file, a broken gzip
	// stream, a label out of range, counts that do not agree.
	ErrFormat = errors.New("bad format")
)

// FileError is a dataset file or folder that could not be used: which one,
// what is wrong, and the fix where one is known.
type FileError struct {
	Path string
	Err  error
	Fix  string // how to put it right, or ""
}

func (e *FileError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %v", e.Path, e.Err)
	if e.Fix != "" {
		b.WriteString(" (")
		b.WriteString(e.Fix)
		b.WriteString(")")
	}
	return b.String()
}

func (e *FileError) Unwrap() error { return e.Err }

// formatError is an ErrFormat about path.
func formatError(path, format string, args ...any) error {
	return &FileError{Path: path, Err: fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))}
}

// Default folders of the datasets that OpenDataset knows. Only Fashion-MNIST
// has a Debian package (dataset-fashion-mnist); the others must be put in
// place by hand.
const (
	DefaultFashionMNISTDir = "/usr/share/datasets/fashion-mnist"
	DefaultMNISTDir        = "/usr/share/datasets/mnist"
	DefaultCIFAR10Dir      = "/usr/share/datasets/cifar10"
)

// DatasetNames returns the names OpenDataset accepts.
func DatasetNames() []string { return []string{"fashion-mnist", "mnist", "cifar10", "folder"} }

// OpenDataset loads a dataset by name from dir, or from the name's default
// folder when dir is "":
//
//   - "fashion-mnist": IDX files (see LoadIDXDir), default
//     DefaultFashionMNISTDir, 1x28x28, 10 classes, FashionMNISTNorm().
//   - "mnist": IDX files, default DefaultMNISTDir, 1x28x28, 10 classes,
//     MNISTNorm().
//   - "cifar10": binary batches (see LoadCIFAR10Dir), default
//     DefaultCIFAR10Dir, 3x32x32, 10 classes, CIFAR10Norm().
//   - "folder": dir/train and dir/test with one sub-folder per class (see
//     OpenImageFolder with zero FolderOptions); dir is required.
//
// The training set is the one to split (SplitValidation); the test set is
// for final reports only.
func OpenDataset(name, dir string) (*Sets, error) {
	switch name {
	case "fashion-mnist":
		return openFashionMNIST(dir, DefaultFashionMNISTDir)
	case "mnist", "cifar10", "folder":
	default:
		return nil, fmt.Errorf("unknown dataset %q; want one of %s", name, strings.Join(DatasetNames(), ", "))
	}
	dir, err := DatasetDir(name, dir)
	if err != nil {
		return nil, err
	}
	switch name {
	case "mnist":
		return LoadIDXDir(name, dir, MNISTClassNames(), MNISTNorm(), "")
	case "cifar10":
		return LoadCIFAR10Dir(dir)
	}
	return OpenImageFolder(dir, FolderOptions{})
}

// DatasetDir is the folder dataset name is read from: dir, or the name's
// install folder when dir is "" (an error for a dataset without one).
func DatasetDir(name, dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	switch name {
	case "fashion-mnist":
		return DefaultFashionMNISTDir, nil
	case "mnist":
		return DefaultMNISTDir, nil
	case "cifar10":
		return DefaultCIFAR10Dir, nil
	case "folder":
		return "", fmt.Errorf("dataset folder: a folder is required: pass --data-dir DIR, holding DIR/train/CLASS/*.png and DIR/test/CLASS/*.png")
	}
	return "", fmt.Errorf("dataset %s: a folder is required (--data-dir DIR)", name)
}

// openFashionMNIST loads Fashion-MNIST from dir, or from defaultDir when dir
// is "" (then a missing file's error says which package to install).
func openFashionMNIST(dir, defaultDir string) (*Sets, error) {
	fix := "pass --data-dir DIR with the Fashion-MNIST IDX files"
	if dir == "" {
		dir = defaultDir
		fix = "install it with `apt-get install -y dataset-fashion-mnist`, or pass --data-dir DIR with the IDX files"
	}
	return LoadIDXDir("fashion-mnist", dir, FashionMNISTClassNames(), FashionMNISTNorm(), fix)
}
