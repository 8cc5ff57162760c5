package supernet

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"nas/blocks/kernels"
	"nas/blocks/nn"
	"nas/internal/atomicfile"
	"nas/internal/safetensors"
	"nas/space"
	"nas/trainer"
)

// A supernet folder holds two files, each written atomically (temporary
// file, fsync, rename):
//
//   - ManifestFile: what the supernet is of (Manifest), written once when
//     training starts.
//   - CheckpointFile: the shared weights ("weights." + slot name), the
//     optimizer's momentum ("momentum." + slot name) and, in the "state"
//     metadata entry, the training progress, all in one file, so that a
//     kill at any moment leaves the last complete checkpoint.
const (
	ManifestFile   = "supernet.json"
	CheckpointFile = "supernet.safetensors"
)

// manifestFormat names the manifest's format.
const manifestFormat = "nas supernet"

// Manifest describes a supernet folder: the space (canonical JSON), the
// data it trains on, the weights layout and kernels of the nas that wrote
// it, and the training recipe.
type Manifest struct {
	Format         string          `json:"format"`
	LayoutVersion  int             `json:"layout_version"`
	KernelsVersion int             `json:"kernels_version"`
	SpaceName      string          `json:"space_name"`
	Space          json.RawMessage `json:"space"`
	Data           DataIdentity    `json:"data"`
	Config         Config          `json:"config"`
}

// DataIdentity names a dataset and hashes its content: the training and
// test images and labels as loaded (SHA-256), so that the same data in
// another folder or file format is the same data.
type DataIdentity struct {
	Name        string `json:"name"`
	Hash        string `json:"sha256"`
	TrainImages int    `json:"train_images"`
	TestImages  int    `json:"test_images"`
}

// IdentifyData hashes sets under the name name (the --data name).
func IdentifyData(name string, sets *trainer.Sets) DataIdentity {
	h := sha256.New()
	var buf [8]byte
	id := DataIdentity{Name: name}
	for part, d := range []*trainer.Dataset{sets.Train, sets.Test} {
		if d == nil {
			continue
		}
		binary.LittleEndian.PutUint64(buf[:], uint64(part)<<32|uint64(d.Len()))
		h.Write(buf[:])
		fmt.Fprintf(h, "%v", d.Shape)
		for i := range d.Len() {
			h.Write(d.Pixels(i))
			binary.LittleEndian.PutUint32(buf[:4], uint32(d.Label(i)))
			h.Write(buf[:4])
		}
		if part == 0 {
			id.TrainImages = d.Len()
		} else {
			id.TestImages = d.Len()
		}
	}
	id.Hash = hex.EncodeToString(h.Sum(nil))
	return id
}

// newManifest describes a supernet of sp trained on data with cfg.
func newManifest(sp *space.Space, data DataIdentity, cfg Config) (*Manifest, error) {
	js, err := sp.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return &Manifest{Format: manifestFormat, LayoutVersion: LayoutVersion, KernelsVersion: kernels.Version,
		SpaceName: sp.Name, Space: js, Data: data, Config: cfg.saved()}, nil
}

// maxManifest bounds the manifest read into memory (a space's JSON is a
// few kilobytes).
const maxManifest = 16 << 20

// ErrNoSupernet is a folder without a supernet.
var ErrNoSupernet = errors.New("no supernet")

// readManifest reads dir's manifest and refuses another format or
// layout.
func readManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w there (%s is missing; train one with nas supernet train --out %s)", dir, ErrNoSupernet, ManifestFile, dir)
		}
		return nil, err
	}
	if fi.Size() > maxManifest {
		return nil, fmt.Errorf("%s: %d bytes is too large for a supernet manifest (at most %d)", path, fi.Size(), maxManifest)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: not a supernet manifest: %v", path, err)
	}
	if m.Format != manifestFormat {
		return nil, fmt.Errorf("%s: format %q, want %q: not a supernet folder", path, m.Format, manifestFormat)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, m.Space); err != nil {
		return nil, fmt.Errorf("%s: space: %v", path, err)
	}
	m.Space = compact.Bytes()
	if m.LayoutVersion != LayoutVersion {
		return nil, fmt.Errorf("%s: the supernet's weights layout is version %d, this nas uses version %d: train it again with nas supernet train --space %s --data %s --out NEWDIR", path, m.LayoutVersion, LayoutVersion, m.SpaceName, m.Data.Name)
	}
	return &m, nil
}

// space parses the manifest's space.
func (m *Manifest) space() (*space.Space, error) {
	sp, err := space.ParseSpaceJSON(m.Space)
	if err != nil {
		return nil, fmt.Errorf("%s: space: %w", ManifestFile, err)
	}
	return sp, nil
}

// checkSpace refuses a space other than the manifest's.
func (m *Manifest) checkSpace(dir string, sp *space.Space) error {
	js, err := sp.MarshalJSON()
	if err != nil {
		return err
	}
	if !bytes.Equal(js, m.Space) {
		return fmt.Errorf("%s holds a supernet of space %s, not of the space given (%s)%s: use another --out for this space, or train it again with nas supernet train --space %s --out %s", dir, m.SpaceName, sp.Name, spaceDiff(m.Space, js), sp.Name, dir)
	}
	return nil
}

// spaceDiff names the first top-level field in which two space JSONs
// differ, as ", which differs in FIELD".
func spaceDiff(a, b []byte) string {
	var ma, mb map[string]json.RawMessage
	if json.Unmarshal(a, &ma) != nil || json.Unmarshal(b, &mb) != nil {
		return ""
	}
	keys := []string{"name", "input", "classes", "stem", "stages", "head"}
	for _, k := range keys {
		if !bytes.Equal(ma[k], mb[k]) {
			if k == "stages" {
				var sa, sb []json.RawMessage
				if json.Unmarshal(ma[k], &sa) == nil && json.Unmarshal(mb[k], &sb) == nil {
					for i := range min(len(sa), len(sb)) {
						if !bytes.Equal(sa[i], sb[i]) {
							return fmt.Sprintf(", which differs in stage %d", i)
						}
					}
				}
			}
			return ", which differs in its " + k
		}
	}
	return ""
}

// checkData refuses data other than the manifest's.
func (m *Manifest) checkData(dir string, id DataIdentity) error {
	if id != m.Data {
		what := "content"
		switch {
		case id.Name != m.Data.Name:
			what = "name"
		case id.TrainImages != m.Data.TrainImages || id.TestImages != m.Data.TestImages:
			what = "size"
		}
		return fmt.Errorf("%s holds a supernet trained on %s (%d training images, sha256 %.12s), not on the data given (%s, %d training images, sha256 %.12s; they differ in %s): give the same data, or train a supernet for this data with nas supernet train --data %s --out NEWDIR",
			dir, m.Data.Name, m.Data.TrainImages, m.Data.Hash, id.Name, id.TrainImages, id.Hash, what, id.Name)
	}
	return nil
}

// writeManifest stores m in dir.
func writeManifest(dir string, m *Manifest) error {
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(dir, ManifestFile), append(js, '\n'))
}

// checkpoint writes the shared weights, the momentum and st to dir.
func saveCheckpoint(dir string, w *Weights, vel map[string][]float32, st *state) error {
	js, err := json.Marshal(st)
	if err != nil {
		return err
	}
	f := &safetensors.File{Tensors: map[string]safetensors.Tensor{},
		Metadata: map[string]string{"format": manifestFormat, "step": strconv.Itoa(st.Step), "state": string(js)}}
	for _, name := range w.names {
		p := w.params[name]
		f.Tensors["weights."+name] = safetensors.Tensor{Shape: slices.Clone(p.Shape), F32: p.Data}
	}
	for name, v := range vel {
		f.Tensors["momentum."+name] = safetensors.Tensor{Shape: []int{len(v)}, F32: v}
	}
	if err := safetensors.Write(filepath.Join(dir, CheckpointFile), f); err != nil {
		return fmt.Errorf("supernet checkpoint in %s: %w", dir, err)
	}
	return nil
}

// loadCheckpoint reads dir's checkpoint into w and returns the momentum
// and the state.
func loadCheckpoint(dir string, w *Weights) (map[string][]float32, *state, error) {
	path := filepath.Join(dir, CheckpointFile)
	f, err := safetensors.Read(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%s: %w there yet (%s is missing; start the training again without --resume)", dir, ErrNoSupernet, CheckpointFile)
		}
		return nil, nil, err
	}
	var st state
	if err := json.Unmarshal([]byte(f.Metadata["state"]), &st); err != nil {
		return nil, nil, fmt.Errorf("%s: the \"state\" metadata is not valid JSON: %v", path, err)
	}
	for _, name := range w.names {
		t, ok := f.Tensors["weights."+name]
		p := w.params[name]
		if !ok {
			return nil, nil, fmt.Errorf("%s has no tensor for slot %s: it belongs to another space or layout", path, name)
		}
		if !slices.Equal(t.Shape, p.Shape) || t.F32 == nil {
			return nil, nil, fmt.Errorf("%s: slot %s has shape %v, the space needs %s: it belongs to another space or layout", path, name, t.Shape, nn.ShapeString(p.Shape))
		}
		copy(p.Data, t.F32)
	}
	vel := map[string][]float32{}
	for name, t := range f.Tensors {
		if rest, ok := strings.CutPrefix(name, "momentum."); ok {
			vel[rest] = t.F32
		} else if rest, ok := strings.CutPrefix(name, "weights."); ok && w.params[rest] == nil {
			return nil, nil, fmt.Errorf("%s has slot %s, which the space does not: it belongs to another space or layout", path, rest)
		}
	}
	return vel, &st, nil
}
