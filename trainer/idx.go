package trainer

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"nas/blocks"
)

// IDX is the file format of MNIST and Fashion-MNIST
// (http://yann.lecun.com/exdb/mnist/): a big-endian 32-bit magic number
// 0x000008DD (0x08: unsigned bytes; DD: the number of dimensions), one
// big-endian 32-bit size per dimension, then the bytes in row-major order.
// Images are 3-dimensional (count, rows, columns; magic 0x00000803), labels
// 1-dimensional (count; magic 0x00000801). Files may be gzipped or not: the
// gzip magic bytes decide, not the name.
const (
	idxImagesMagic = 0x00000803
	idxLabelsMagic = 0x00000801
)

// maxIDXBytes bounds the data one IDX file may hold (4 GiB: about 90 times
// Fashion-MNIST's training images), so that a corrupt header is an error
// rather than an attempt to allocate terabytes.
const maxIDXBytes = 1 << 32

// FashionMNISTClassNames returns the ten Fashion-MNIST classes, by label.
func FashionMNISTClassNames() []string {
	return []string{
		"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
		"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
	}
}

// MNISTClassNames returns the ten MNIST digits, by label.
func MNISTClassNames() []string {
	return []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
}

// idxFiles are the names a split's files go by: the canonical names, gzipped
// or not, and the dotted variant some mirrors use.
func idxFiles(split, kind string) []string {
	dims := map[string]string{"images": "idx3", "labels": "idx1"}[kind]
	base := split + "-" + kind + "-" + dims + "-ubyte"
	dotted := split + "-" + kind + "." + dims + "-ubyte"
	return []string{base + ".gz", base, dotted + ".gz", dotted}
}

// findFile returns the first of names that exists in dir, or a FileError
// wrapping ErrNotFound that lists what was tried and says fix.
func findFile(dir string, names []string, fix string) (string, error) {
	for _, n := range names {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", &FileError{
		Path: filepath.Join(dir, names[0]),
		Err:  fmt.Errorf("%w (also tried %v)", ErrNotFound, names[1:]),
		Fix:  fix,
	}
}

// LoadIDXDir loads the train and test splits of an MNIST-style dataset from
// dir: {train,t10k}-{images-idx3,labels-idx1}-ubyte, each gzipped (.gz) or
// not. name labels the datasets; classNames gives the number of classes (a
// label outside it is an error); norm is stored on both splits. fix, when
// not empty, is appended to the error for missing files.
func LoadIDXDir(name, dir string, classNames []string, norm Normalization, fix string) (*Sets, error) {
	if fix == "" {
		fix = fmt.Sprintf("put %s-{images-idx3,labels-idx1}-ubyte[.gz] for train and t10k there, or pass --data-dir DIR", "{train,t10k}")
	}
	var sets Sets
	for _, split := range []struct {
		file string
		dst  **Dataset
	}{{"train", &sets.Train}, {"t10k", &sets.Test}} {
		images, err := findFile(dir, idxFiles(split.file, "images"), fix)
		if err != nil {
			return nil, err
		}
		labels, err := findFile(dir, idxFiles(split.file, "labels"), fix)
		if err != nil {
			return nil, err
		}
		splitName := "test"
		if split.file == "train" {
			splitName = "train"
		}
		d, err := LoadIDX(name+"/"+splitName, images, labels, classNames, norm)
		if err != nil {
			return nil, err
		}
		*split.dst = d
	}
	if sets.Train.Shape != sets.Test.Shape {
		return nil, &FileError{Path: dir, Err: fmt.Errorf("%w: train images are %v but test images %v", ErrFormat, sets.Train.Shape, sets.Test.Shape)}
	}
	return &sets, nil
}

// LoadIDX loads one split from an IDX images file and an IDX labels file
// (each gzipped or not) as a 1-channel dataset.
func LoadIDX(name, imagesPath, labelsPath string, classNames []string, norm Normalization) (*Dataset, error) {
	dims, pixels, err := readIDXFile(imagesPath, idxImagesMagic)
	if err != nil {
		return nil, err
	}
	ldims, rawLabels, err := readIDXFile(labelsPath, idxLabelsMagic)
	if err != nil {
		return nil, err
	}
	if dims[0] != ldims[0] {
		return nil, &FileError{
			Path: labelsPath,
			Err:  fmt.Errorf("%w: %d labels but %s holds %d images; the two files must come from the same split", ErrFormat, ldims[0], imagesPath, dims[0]),
		}
	}
	labels := make([]int, len(rawLabels))
	for i, l := range rawLabels {
		if int(l) >= len(classNames) {
			return nil, formatError(labelsPath, "label %d of sample %d is outside [0, %d)", l, i, len(classNames))
		}
		labels[i] = int(l)
	}
	shape := blocks.Shape{C: 1, H: dims[1], W: dims[2]}
	d, err := NewDataset(name, shape, classNames, pixels, labels, norm)
	if err != nil {
		return nil, &FileError{Path: imagesPath, Err: err}
	}
	return d, nil
}

// readIDXFile reads an IDX file of unsigned bytes with the given magic
// number, gzipped or not, and returns its dimensions and data.
func readIDXFile(path string, magic uint32) ([]int, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, &FileError{Path: path, Err: ErrNotFound}
		}
		return nil, nil, &FileError{Path: path, Err: err}
	}
	defer f.Close()
	size := int64(-1)
	if info, err := f.Stat(); err == nil {
		size = info.Size()
	}
	return readIDX(f, size, path, magic)
}

// maxDeflateRatio bounds how much a gzip stream can expand (deflate's limit
// is about 1032:1), so that a header's claim can be trusted for allocation
// when it fits the file.
const maxDeflateRatio = 1100

// readIDX reads an IDX stream (gzipped or not) of fileSize bytes (-1 if not
// known); path names it in errors.
func readIDX(r io.Reader, fileSize int64, path string, magic uint32) ([]int, []byte, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	gz := false
	if head, err := br.Peek(2); err == nil && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, formatError(path, "broken gzip header: %v; the file is damaged, fetch or reinstall it", err)
		}
		defer zr.Close()
		r, gz = zr, true
	} else {
		r = br
	}
	streamError := func(err error) error {
		if gz {
			return formatError(path, "broken gzip stream: %v; the file is damaged or truncated, fetch or reinstall it", err)
		}
		return &FileError{Path: path, Err: err}
	}

	var header [4]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) && !gz {
			return nil, nil, formatError(path, "file is shorter than an IDX header (4 bytes)")
		}
		return nil, nil, streamError(err)
	}
	got := binary.BigEndian.Uint32(header[:])
	if got != magic {
		return nil, nil, formatError(path, "magic number 0x%08x, want 0x%08x (IDX unsigned bytes with %d dimensions, the %s file)",
			got, magic, magic&0xff, map[uint32]string{idxImagesMagic: "images", idxLabelsMagic: "labels"}[magic])
	}
	dims := make([]int, magic&0xff)
	sizes := make([]byte, 4*len(dims))
	if _, err := io.ReadFull(r, sizes); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) && !gz {
			return nil, nil, formatError(path, "file ends inside the IDX header")
		}
		return nil, nil, streamError(err)
	}
	total := uint64(1)
	raw := make([]uint32, len(dims))
	for i := range raw {
		raw[i] = binary.BigEndian.Uint32(sizes[4*i:])
	}
	for i, n := range raw {
		if i > 0 && n == 0 {
			return nil, nil, formatError(path, "dimension %d of the header is 0", i)
		}
		total *= uint64(n)
		if total > maxIDXBytes {
			return nil, nil, formatError(path, "header dimensions %v claim more than the limit of %d bytes; the header is corrupt, or the dataset is too large for nas (split it)", raw, uint64(maxIDXBytes))
		}
		dims[i] = int(n)
	}
	// Read one byte past the end to catch over-long files, and so that a
	// gzip stream is read to its end, where its checksum is verified.
	var data []byte
	bound := fileSize
	if gz {
		bound = fileSize * maxDeflateRatio
	}
	if fileSize >= 0 && int64(total) <= bound {
		// The file can hold what the header claims: read it in place.
		data = make([]byte, total, total+1)
		n, err := io.ReadFull(r, data)
		switch {
		case err == nil:
			var extra [1]byte
			m, err := io.ReadFull(r, extra[:])
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, nil, streamError(err)
			}
			data = data[:len(data)+m] // m == 1: over-long, reported below
		case errors.Is(err, io.ErrUnexpectedEOF) && !gz:
			data = data[:n] // truncated, reported below
		default:
			return nil, nil, streamError(err)
		}
	} else {
		// Not known to fit: grow as the data comes, so that a corrupt
		// header cannot make us allocate what the file does not hold.
		var err error
		data, err = io.ReadAll(io.LimitReader(r, int64(total)+1))
		if err != nil {
			return nil, nil, streamError(err)
		}
	}
	switch {
	case uint64(len(data)) < total:
		return nil, nil, formatError(path, "truncated: the header says %v (%d bytes of data) but only %d bytes follow; fetch or reinstall the file",
			dims, total, len(data))
	case uint64(len(data)) > total:
		return nil, nil, formatError(path, "more data than the header's %v (%d bytes) says; is the header right?", dims, total)
	}
	return dims, data, nil
}
