package trainer

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// cifarRecords encodes n records whose label is (first+i)%10 and whose
// pixel j is (first+i+j)%256.
func cifarRecords(first, n int) []byte {
	b := make([]byte, 0, n*cifarRecord)
	for i := range n {
		b = append(b, byte((first+i)%10))
		for j := range cifarRecord - 1 {
			b = append(b, byte((first+i+j)%256))
		}
	}
	return b
}

// writeCIFARDir writes five training batches of perBatch records and a test
// batch of 4 records into dir.
func writeCIFARDir(t *testing.T, dir string, perBatch int) {
	t.Helper()
	for k, f := range cifarTrainFiles {
		writeFile(t, filepath.Join(dir, f), cifarRecords(k*perBatch, perBatch))
	}
	writeFile(t, filepath.Join(dir, cifarTestFile), cifarRecords(1000, 4))
}

func TestLoadCIFAR10Dir(t *testing.T) {
	for _, sub := range []string{"", "cifar-10-batches-bin"} {
		t.Run("sub="+sub, func(t *testing.T) {
			root := t.TempDir()
			writeCIFARDir(t, filepath.Join(root, sub), 3)
			sets, err := OpenDataset("cifar10", root)
			require.NoError(t, err)
			require.Equal(t, 15, sets.Train.Len())
			require.Equal(t, 4, sets.Test.Len())
			require.Equal(t, 3, sets.Shape().C)
			require.Equal(t, 32, sets.Shape().H)
			require.Equal(t, CIFAR10ClassNames(), sets.ClassNames())
			want := cifarRecords(0, 15)
			for i := range 15 {
				rec := want[i*cifarRecord : (i+1)*cifarRecord]
				require.Equal(t, int(rec[0]), sets.Train.Label(i))
				require.Equal(t, rec[1:], sets.Train.Pixels(i))
			}
			require.Equal(t, 1000%10, sets.Test.Label(0))
			require.Equal(t, CIFAR10Norm(), sets.Test.Norm)
		})
	}
}

func TestCIFARMeta(t *testing.T) {
	dir := t.TempDir()
	writeCIFARDir(t, dir, 1)
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	writeFile(t, filepath.Join(dir, "batches.meta.txt"), []byte(strings.Join(names, "\n")+"\n\n"))
	sets, err := LoadCIFAR10Dir(dir)
	require.NoError(t, err)
	require.Equal(t, names, sets.ClassNames())

	writeFile(t, filepath.Join(dir, "batches.meta.txt"), []byte("a\nb\n"))
	_, err = LoadCIFAR10Dir(dir)
	require.ErrorIs(t, err, ErrFormat)
	require.Contains(t, err.Error(), "batches.meta.txt: bad format: names 2 classes, want 10")
}

func TestCIFARErrors(t *testing.T) {
	outOfRange := cifarRecords(0, 3)
	outOfRange[cifarRecord] = 57 // label of record 1
	cases := []struct {
		name  string
		batch []byte // written as data_batch_2.bin; nil removes it
		err   error
		want  string
	}{
		{"missing", nil, ErrNotFound, "data_batch_2.bin: not found (unpack cifar-10-binary.tar.gz"},
		{"empty", []byte{}, ErrFormat, "size 0 bytes is not a positive multiple of the 3073-byte"},
		{"truncated", cifarRecords(0, 3)[:2*cifarRecord+100], ErrFormat, "(2 whole records and 100 bytes over)"},
		{"label out of range", outOfRange, ErrFormat, "record 1 has label 57, outside [0, 10)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeCIFARDir(t, dir, 3)
			p := filepath.Join(dir, "data_batch_2.bin")
			if c.batch == nil {
				require.NoError(t, os.Remove(p))
			} else {
				writeFile(t, p, c.batch)
			}
			_, err := LoadCIFAR10Dir(dir)
			require.ErrorIs(t, err, c.err)
			require.Contains(t, err.Error(), p)
			require.Contains(t, err.Error(), c.want)
		})
	}
}

// TestCIFARSizeLimit checks the bound on a batch's size, taken from the
// file size before anything is allocated.
func TestCIFARSizeLimit(t *testing.T) {
	_, err := cifarRecordCount("big.bin", (maxCIFARBytes/cifarRecord+1)*cifarRecord)
	require.ErrorIs(t, err, ErrFormat)
	require.ErrorContains(t, err, "big.bin: bad format: size 4294969231 bytes is above the limit of 4294967296 bytes")
	n, err := cifarRecordCount("ok.bin", 3*cifarRecord)
	require.NoError(t, err)
	require.Equal(t, 3, n)
}

// FuzzCIFARBatch holds that a byte string either is refused with an error
// naming the file or decodes to records that encode back to the same bytes.
func FuzzCIFARBatch(f *testing.F) {
	f.Add(cifarRecords(0, 2))
	f.Add(cifarRecords(3, 1)[:100])
	bad := cifarRecords(0, 1)
	bad[0] = 12
	f.Add(bad)
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := cifarRecordCount("fuzz.bin", int64(len(b)))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.bin: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		pixels := make([]uint8, n*(cifarRecord-1))
		labels := make([]int, n)
		if err := decodeCIFARBatch(bytes.NewReader(b), "fuzz.bin", pixels, labels, 10); err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.bin: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		var out []byte
		for i, l := range labels {
			out = append(out, byte(l))
			out = append(out, pixels[i*(cifarRecord-1):(i+1)*(cifarRecord-1)]...)
		}
		if !bytes.Equal(out, b) {
			t.Fatal("records do not encode back to the batch")
		}
	})
}
