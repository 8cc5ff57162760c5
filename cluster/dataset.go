package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// maxListedFiles is the number of files up to which a DatasetID lists them
// (so that a mismatch names the file); a larger dataset travels as its
// digest alone, to keep task envelopes small.
const maxListedFiles = 64

// maxDatasetFiles bounds the files HashDataset reads.
const maxDatasetFiles = 10_000_000

// DatasetFile is one file of a dataset.
type DatasetFile struct {
	Path   string `json:"path"` // relative to the dataset's folder, with '/'
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// DatasetID is what identifies a dataset across machines: its name and the
// content of its files. Two machines hold the same data when their
// DatasetIDs are equal, wherever the files lie.
type DatasetID struct {
	Name string `json:"name"`
	// Digest is the SHA-256 of the sorted file list (path, size and hash
	// of each file), in hex.
	Digest string `json:"digest"`
	// Count is the number of files; Files lists them when there are at
	// most 64.
	Count int           `json:"count"`
	Files []DatasetFile `json:"files,omitempty"`
}

var hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (d *DatasetID) check() error {
	switch {
	case d.Name == "" || len(d.Name) > 64:
		return fmt.Errorf("dataset name %q: want 1 to 64 bytes", clip(d.Name))
	case !hexDigest.MatchString(d.Digest):
		return fmt.Errorf("dataset digest %q: want 64 hex digits", clip(d.Digest))
	case d.Count < 0 || len(d.Files) > maxListedFiles || (len(d.Files) > 0 && len(d.Files) != d.Count):
		return fmt.Errorf("dataset %s: %d files listed of %d", d.Name, len(d.Files), d.Count)
	}
	for _, f := range d.Files {
		if f.Path == "" || len(f.Path) > 256 || f.Size < 0 || !hexDigest.MatchString(f.SHA256) {
			return fmt.Errorf("dataset %s: file entry %q out of range", d.Name, clip(f.Path))
		}
	}
	return nil
}

// HashDataset identifies the dataset name held in dir: every regular file
// under dir (recursively), its path relative to dir, size and SHA-256.
func HashDataset(name, dir string) (DatasetID, error) {
	var files []DatasetFile
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.Type().IsRegular() {
			return nil
		}
		if len(files) == maxDatasetFiles {
			return fmt.Errorf("more than %d files", maxDatasetFiles)
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		f, err := hashFile(path)
		if err != nil {
			return err
		}
		f.Path = filepath.ToSlash(rel)
		files = append(files, f)
		return nil
	})
	if err != nil {
		return DatasetID{}, fmt.Errorf("dataset %s in %s: %w", name, dir, err)
	}
	if len(files) == 0 {
		return DatasetID{}, fmt.Errorf("dataset %s: no files in %s", name, dir)
	}
	return NewDatasetID(name, files), nil
}

// NewDatasetID is the identity of the dataset name made of files.
func NewDatasetID(name string, files []DatasetFile) DatasetID {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b DatasetFile) int { return strings.Compare(a.Path, b.Path) })
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%q %d %s\n", f.Path, f.Size, f.SHA256)
	}
	id := DatasetID{Name: name, Digest: hex.EncodeToString(h.Sum(nil)), Count: len(files)}
	if len(files) <= maxListedFiles {
		id.Files = files
	}
	return id
}

func hashFile(path string) (DatasetFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return DatasetFile{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return DatasetFile{}, fmt.Errorf("%s: %w", path, err)
	}
	return DatasetFile{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// Same reports whether d and o are the same data under the same name.
func (d DatasetID) Same(o DatasetID) bool { return d.Name == o.Name && d.Digest == o.Digest }

// String is the dataset's name, file count and the start of its digest.
func (d DatasetID) String() string {
	short := d.Digest
	if len(short) > 12 {
		short = short[:12]
	}
	return fmt.Sprintf("%s (%d files, sha256 %s)", d.Name, d.Count, short)
}

// Mismatch describes how want (the task's dataset) and have (the worker's)
// differ, naming both sides and the first file that differs when both list
// their files; "" when they are the same.
func Mismatch(want, have DatasetID) string {
	if want.Same(have) {
		return ""
	}
	msg := fmt.Sprintf("the task wants dataset %v, this worker has %v", want, have)
	if want.Files == nil || have.Files == nil {
		return msg
	}
	hm := map[string]DatasetFile{}
	for _, f := range have.Files {
		hm[f.Path] = f
	}
	for _, w := range want.Files {
		h, ok := hm[w.Path]
		switch {
		case !ok:
			return msg + fmt.Sprintf(": %s is missing here", w.Path)
		case h.SHA256 != w.SHA256:
			return msg + fmt.Sprintf(": %s has sha256 %.12s there, %.12s here", w.Path, w.SHA256, h.SHA256)
		}
		delete(hm, w.Path)
	}
	for _, h := range have.Files {
		if _, extra := hm[h.Path]; extra {
			return msg + fmt.Sprintf(": %s is here only", h.Path)
		}
	}
	return msg
}
