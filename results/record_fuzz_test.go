package results

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// recordCases are stored records that decoding must refuse, each with a
// part of the message that says what is wrong. docs/reliability.md counts
// them.
var recordCases = func() map[string]struct {
	key, val []byte
	want     string
} {
	trial := func(edit func(*Trial)) []byte {
		tr := trialFor(3)
		edit(&tr)
		payload, err := json.Marshal(tr)
		if err != nil {
			panic(err)
		}
		return seal(u64(3), payload)
	}
	good := trial(func(*Trial) {})
	flipped := append([]byte(nil), good...)
	flipped[10] ^= 1
	body := append([]byte{2}, good[1:len(good)-4]...)
	otherFormat := binary.BigEndian.AppendUint32(body, crc32.Update(crc32.Checksum(u64(3), castagnoli), castagnoli, body))
	return map[string]struct {
		key, val []byte
		want     string
	}{
		"empty":           {u64(3), nil, "too short"},
		"checksum":        {u64(3), flipped, "checksum mismatch"},
		"other key":       {u64(4), good, "checksum mismatch"},
		"format byte":     {u64(3), otherFormat, "unknown value format 2"},
		"oversized":       {u64(3), make([]byte, maxRecordBytes+1), "above the limit of 16777216"},
		"not json":        {u64(3), seal(u64(3), []byte("{oops")), "invalid character"},
		"unknown field":   {u64(3), seal(u64(3), []byte(`{"seq":3,"bogus":1}`)), `unknown field "bogus"`},
		"seq mismatch":    {u64(3), trial(func(t *Trial) { t.Seq = 9 }), "trial key 0000000000000003 holds trial 9"},
		"no arch":         {u64(3), trial(func(t *Trial) { t.Arch = "" }), "no arch"},
		"bad status":      {u64(3), trial(func(t *Trial) { t.Status = "done" }), `status "done"`},
		"accuracy":        {u64(3), trial(func(t *Trial) { t.ValAccuracy = 7 }), "validation accuracy 7"},
		"negative params": {u64(3), trial(func(t *Trial) { t.Params = -1 }), "params -1"},
	}
}()

func TestDecodeTrialErrors(t *testing.T) {
	for name, c := range recordCases {
		t.Run(name, func(t *testing.T) {
			_, err := decodeTrial(c.key, c.val)
			require.ErrorContains(t, err, c.want)
		})
	}
}

// TestRecordSizeLimit holds that a write refuses what reading would.
func TestRecordSizeLimit(t *testing.T) {
	s := openTest(t, t.TempDir()+"/r.db")
	id, err := s.CreateRun(testConfig)
	require.NoError(t, err)
	err = s.AppendTrial(id, trialFor(1), bytes.Repeat([]byte{'x'}, maxRecordBytes))
	require.ErrorIs(t, err, ErrRecordTooLarge)
	require.ErrorContains(t, err, "strategy state")
	big := trialFor(1)
	big.Reason = strings.Repeat("y", maxRecordBytes)
	err = s.AppendTrial(id, big, nil)
	require.ErrorIs(t, err, ErrRecordTooLarge)
	trials, err := s.Trials(id)
	require.NoError(t, err)
	require.Empty(t, trials, "nothing half-written")
}

// FuzzDecodeTrial holds that decoding a stored trial never panics, and
// that a trial it accepts stores and decodes back to the same record.
func FuzzDecodeTrial(f *testing.F) {
	for i := 1; i <= 7; i++ {
		v, err := sealJSON(u64(uint64(i)), trialFor(i))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(u64(uint64(i)), v)
	}
	for _, c := range recordCases {
		if len(c.val) <= 1<<16 {
			f.Add(c.key, c.val)
		}
	}
	f.Fuzz(func(t *testing.T, key, val []byte) {
		tr, err := decodeTrial(key, val)
		if err != nil {
			return
		}
		v, err := sealJSON(key, tr)
		if err != nil {
			t.Fatalf("an accepted trial does not store: %v", err)
		}
		back, err := decodeTrial(key, v)
		if err != nil {
			t.Fatalf("a stored trial does not decode: %v", err)
		}
		v2, err := sealJSON(key, back)
		require.NoError(t, err)
		if !bytes.Equal(v, v2) {
			t.Fatalf("round trip changed the record:\n%s\n%s", v, v2)
		}
	})
}

// FuzzDecodeRun holds the same of a run record.
func FuzzDecodeRun(f *testing.F) {
	v, err := sealJSON(keyRun, Run{ID: 1, Created: t0, Updated: t0, Status: RunRunning, Config: testConfig})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v)
	f.Add(seal(keyRun, []byte(`{"id":2,"status":"done","config":{"strategy":"rl"}}`)))
	f.Fuzz(func(t *testing.T, val []byte) {
		r, err := decodeRun(val)
		if err != nil {
			return
		}
		v, err := sealJSON(keyRun, r)
		if err != nil {
			t.Fatalf("an accepted run does not store: %v", err)
		}
		back, err := decodeRun(v)
		if err != nil {
			t.Fatalf("a stored run does not decode: %v", err)
		}
		v2, err := sealJSON(keyRun, back)
		require.NoError(t, err)
		if !bytes.Equal(v, v2) {
			t.Fatalf("round trip changed the record:\n%s\n%s", v, v2)
		}
	})
}
