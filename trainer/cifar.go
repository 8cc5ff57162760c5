package trainer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"nas/blocks"
)

// CIFAR-10 binary version (https://www.cs.toronto.edu/~kriz/cifar.html):
// data_batch_1.bin .. data_batch_5.bin (10,000 images each) and
// test_batch.bin, each a sequence of 3073-byte records: one label byte
// (0..9), then 1024 red, 1024 green and 1024 blue bytes of a 32x32 image in
// row-major order. That is already C x H x W, the order Dataset keeps.
// batches.meta.txt, when present, names the classes one per line.
const (
	cifarSide   = 32
	cifarRecord = 1 + 3*cifarSide*cifarSide
	// maxCIFARBytes bounds the batches loaded together (4 GiB, about 20
	// times CIFAR-10), checked from the file sizes before allocating.
	maxCIFARBytes = 1 << 32
)

// CIFAR10ClassNames returns the ten CIFAR-10 classes, by label.
func CIFAR10ClassNames() []string {
	return []string{
		"airplane", "automobile", "bird", "cat", "deer",
		"dog", "frog", "horse", "ship", "truck",
	}
}

// cifarTrainFiles and cifarTestFile are the binary batch names.
var (
	cifarTrainFiles = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
	cifarTestFile   = "test_batch.bin"
)

// LoadCIFAR10Dir loads CIFAR-10's binary batches from dir, or from
// dir/cifar-10-batches-bin (where the published archive unpacks). All five
// training batches and the test batch must be there. Class names come from
// batches.meta.txt when it exists, else CIFAR10ClassNames().
func LoadCIFAR10Dir(dir string) (*Sets, error) {
	const fix = "unpack cifar-10-binary.tar.gz (the binary version) there, or pass --data-dir DIR"
	if _, err := os.Stat(filepath.Join(dir, cifarTestFile)); err != nil {
		sub := filepath.Join(dir, "cifar-10-batches-bin")
		if _, err := os.Stat(filepath.Join(sub, cifarTestFile)); err == nil {
			dir = sub
		}
	}
	names := CIFAR10ClassNames()
	if meta, err := readCIFARMeta(filepath.Join(dir, "batches.meta.txt")); err != nil {
		return nil, err
	} else if meta != nil {
		names = meta
	}
	var train []string
	for _, f := range append(cifarTrainFiles, cifarTestFile) {
		p := filepath.Join(dir, f)
		if _, err := os.Stat(p); err != nil {
			return nil, &FileError{Path: p, Err: ErrNotFound, Fix: fix}
		}
		if f != cifarTestFile {
			train = append(train, p)
		}
	}
	tr, err := LoadCIFAR10("cifar10/train", train, names)
	if err != nil {
		return nil, err
	}
	te, err := LoadCIFAR10("cifar10/test", []string{filepath.Join(dir, cifarTestFile)}, names)
	if err != nil {
		return nil, err
	}
	return &Sets{Train: tr, Test: te}, nil
}

// LoadCIFAR10 loads the records of the given CIFAR-10 binary batch files, in
// order, as one 3x32x32 dataset normalised with CIFAR10Norm().
func LoadCIFAR10(name string, paths []string, classNames []string) (*Dataset, error) {
	// Check every size first, so that the storage is allocated once.
	counts := make([]int, len(paths))
	total := 0
	for k, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, &FileError{Path: p, Err: ErrNotFound}
			}
			return nil, &FileError{Path: p, Err: err}
		}
		n, err := cifarRecordCount(p, info.Size())
		if err != nil {
			return nil, err
		}
		counts[k] = n
		total += n
		if int64(total)*cifarRecord > maxCIFARBytes {
			return nil, formatError(p, "the batches up to this one hold %d bytes, above the limit of %d bytes for one dataset; load fewer batches", int64(total)*cifarRecord, int64(maxCIFARBytes))
		}
	}
	pixels := make([]uint8, total*(cifarRecord-1))
	labels := make([]int, total)
	start := 0
	for k, p := range paths {
		end := start + counts[k]
		if err := readCIFARBatch(p, pixels[start*(cifarRecord-1):end*(cifarRecord-1)], labels[start:end], len(classNames)); err != nil {
			return nil, err
		}
		start = end
	}
	d, err := NewDataset(name, blocks.Shape{C: 3, H: cifarSide, W: cifarSide}, classNames, pixels, labels, CIFAR10Norm())
	if err != nil {
		return nil, err
	}
	return d, nil
}

// cifarRecords is the number of records in a batch file of size bytes, or
// an error naming path when size is not a positive multiple of a record.
func cifarRecordCount(path string, size int64) (int, error) {
	if size <= 0 || size%cifarRecord != 0 {
		return 0, formatError(path, "size %d bytes is not a positive multiple of the %d-byte CIFAR-10 record (%d whole records and %d bytes over); the file is truncated or not a CIFAR-10 binary batch",
			size, cifarRecord, size/cifarRecord, size%cifarRecord)
	}
	if size > maxCIFARBytes {
		return 0, formatError(path, "size %d bytes is above the limit of %d bytes for one dataset; split the batch", size, int64(maxCIFARBytes))
	}
	return int(size / cifarRecord), nil
}

// readCIFARBatch fills pixels and labels (sized for the whole file) from one
// binary batch file.
func readCIFARBatch(path string, pixels []uint8, labels []int, classes int) error {
	f, err := os.Open(path)
	if err != nil {
		return &FileError{Path: path, Err: err}
	}
	defer f.Close()
	return decodeCIFARBatch(bufio.NewReaderSize(f, 1<<16), path, pixels, labels, classes)
}

// decodeCIFARBatch fills pixels and labels from len(labels) records read
// from r; path names the file in errors.
func decodeCIFARBatch(r io.Reader, path string, pixels []uint8, labels []int, classes int) error {
	var record [cifarRecord]byte
	for i := range labels {
		if _, err := io.ReadFull(r, record[:]); err != nil {
			// The size was checked, so this is a file that changed under us
			// or a read error.
			return &FileError{Path: path, Err: fmt.Errorf("reading record %d: %w", i, err)}
		}
		if int(record[0]) >= classes {
			return formatError(path, "record %d has label %d, outside [0, %d); is this CIFAR-100 or another format?", i, record[0], classes)
		}
		labels[i] = int(record[0])
		copy(pixels[i*(cifarRecord-1):], record[1:])
	}
	return nil
}

// readCIFARMeta reads class names, one per line (blank lines ignored), from
// path. A missing file gives nil names and no error.
func readCIFARMeta(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	var names []string
	for line := range strings.Lines(string(b)) {
		if s := strings.TrimSpace(line); s != "" {
			names = append(names, s)
		}
	}
	if len(names) != len(CIFAR10ClassNames()) {
		return nil, formatError(path, "names %d classes, want %d for CIFAR-10", len(names), len(CIFAR10ClassNames()))
	}
	return names, nil
}
