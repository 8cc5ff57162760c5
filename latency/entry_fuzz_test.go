package latency

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// sealRaw seals a JSON payload as it is, however wrong.
func sealRaw(key []byte, format byte, payload string) []byte {
	body := append([]byte{format}, payload...)
	return binary.BigEndian.AppendUint32(body, crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, body))
}

// entryCases are stored entries that decoding must refuse, each with a
// part of the message that says what is wrong. docs/reliability.md counts
// them.
var entryCases = func() map[string]struct {
	val  []byte
	want string
} {
	k := []byte(key(1))
	good, err := seal(k, entryFor(1))
	if err != nil {
		panic(err)
	}
	flipped := append([]byte(nil), good...)
	flipped[12] ^= 4
	return map[string]struct {
		val  []byte
		want string
	}{
		"empty":          {nil, "too short"},
		"checksum":       {flipped, "checksum mismatch"},
		"format byte":    {sealRaw(k, 9, `{}`), "unknown value format 9"},
		"oversized":      {make([]byte, maxValueBytes+1), "above the limit of 1048576"},
		"not json":       {sealRaw(k, valueFormat, `{"median_ns":`), "unexpected EOF"},
		"unknown field":  {sealRaw(k, valueFormat, `{"mean_ns":1}`), `unknown field "mean_ns"`},
		"wrong type":     {sealRaw(k, valueFormat, `{"samples":"many"}`), "cannot unmarshal string"},
		"negative time":  {sealRaw(k, valueFormat, `{"median_ns":-1,"p10_ns":-2,"p90_ns":0,"samples":1,"measured_at":"2026-01-01T00:00:00Z"}`), "finite and non-negative"},
		"order":          {sealRaw(k, valueFormat, `{"median_ns":5,"p10_ns":6,"p90_ns":7,"samples":1,"measured_at":"2026-01-01T00:00:00Z"}`), "want p10 <= median <= p90"},
		"no samples":     {sealRaw(k, valueFormat, `{"median_ns":5,"p10_ns":4,"p90_ns":7,"samples":0,"measured_at":"2026-01-01T00:00:00Z"}`), "0 samples"},
		"no time":        {sealRaw(k, valueFormat, `{"median_ns":5,"p10_ns":4,"p90_ns":7,"samples":3}`), "measurement time is not set"},
		"calibration":    {sealRaw(k, valueFormat, `{"median_ns":5,"p10_ns":4,"p90_ns":7,"samples":3,"measured_at":"2026-01-01T00:00:00Z","calibration_archs":["a"]}`), "1 calibration networks with 0 latencies"},
		"negative scale": {sealRaw(k, valueFormat, `{"median_ns":5,"p10_ns":4,"p90_ns":7,"samples":3,"measured_at":"2026-01-01T00:00:00Z","scale":-1}`), "scale -1"},
	}
}()

func TestDecodeEntryErrors(t *testing.T) {
	for name, c := range entryCases {
		t.Run(name, func(t *testing.T) {
			_, err := decodeEntry("lut.db", []byte("fp-1"), []byte(key(1)), c.val)
			require.ErrorIs(t, err, ErrCorrupt)
			require.ErrorContains(t, err, `latency table lut.db: latency table is corrupt: device fp-1, key "`+key(1)+`": `)
			require.ErrorContains(t, err, c.want)
		})
	}
}

// TestEntrySizeLimit holds that Put refuses an entry that reading would.
func TestEntrySizeLimit(t *testing.T) {
	tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
	e := entryFor(1)
	for i := range 20000 {
		e.CalibrationArchs = append(e.CalibrationArchs, strings.Repeat("a", 60))
		e.CalibrationNs = append(e.CalibrationNs, float64(i+1))
	}
	err := tbl.Put(key(1), e)
	require.ErrorIs(t, err, ErrInvalidEntry)
	require.ErrorContains(t, err, "above the limit of 1048576")
	n, err := tbl.Len()
	require.NoError(t, err)
	require.Zero(t, n)
}

// FuzzDecodeEntry holds that decoding a stored entry never panics, and
// that an entry it accepts seals and decodes back to the same value.
func FuzzDecodeEntry(f *testing.F) {
	for i := range 3 {
		v, err := seal([]byte(key(i)), entryFor(i))
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(key(i)), v)
	}
	cal := entryFor(4)
	cal.Scale, cal.Beta, cal.CalibrationArchs, cal.CalibrationNs = 1.2, 0.5, []string{"in1x8x8 cls2 | gap | linear_o2"}, []float64{1234}
	v, err := seal([]byte("overhead"), cal)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("overhead"), v)
	for _, c := range entryCases {
		if len(c.val) <= 1<<16 {
			f.Add([]byte(key(1)), c.val)
		}
	}
	f.Fuzz(func(t *testing.T, k, val []byte) {
		e, err := decodeEntry("fuzz.db", []byte("fp"), k, val)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "latency table fuzz.db: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		v, err := seal(k, e)
		if err != nil {
			t.Fatalf("an accepted entry does not seal: %v", err)
		}
		back, err := decodeEntry("fuzz.db", []byte("fp"), k, v)
		if err != nil {
			t.Fatalf("a sealed entry does not decode: %v", err)
		}
		v2, err := seal(k, back)
		require.NoError(t, err)
		if !bytes.Equal(v, v2) {
			t.Fatalf("round trip changed the entry:\n%s\n%s", v, v2)
		}
	})
}
