package cluster

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func validTask() Task {
	return Task{Run: "run-3", ID: "t0", Kind: "train", Payload: json.RawMessage(`{"seed":1}`)}
}

func TestTaskRoundTrip(t *testing.T) {
	task := validTask()
	ds := NewDatasetID("stripes", []DatasetFile{{Path: "a", Size: 3, SHA256: strings.Repeat("ab", 32)}})
	task.Dataset = &ds
	b, err := EncodeTask(task)
	require.NoError(t, err)
	got, err := DecodeTask(b)
	require.NoError(t, err)
	task.Version = envelopeVersion
	require.Equal(t, task, *got)
}

func TestDecodeTaskRefuses(t *testing.T) {
	good, err := EncodeTask(validTask())
	require.NoError(t, err)
	for _, c := range []struct{ name, data, want string }{
		{"garbage", "{{{not json", "task:"},
		{"empty", "", "task:"},
		{"array", "[1,2]", "task:"},
		{"trailing", string(good) + "{}", "after the JSON object"},
		{"unknown field", `{"v":1,"run":"r","id":"i","kind":"k","payload":{},"evil":1}`, "unknown field"},
		{"version", `{"v":2,"run":"r","id":"i","kind":"k","payload":{}}`, "version 2"},
		{"no payload", `{"v":1,"run":"r","id":"i","kind":"k"}`, "no payload"},
		{"bad run", `{"v":1,"run":"a.b","id":"i","kind":"k","payload":{}}`, "task run"},
		{"bad id", `{"v":1,"run":"r","id":"*","kind":"k","payload":{}}`, "task id"},
		{"bad kind", `{"v":1,"run":"r","id":"i","kind":"K K","payload":{}}`, "task kind"},
		{"bad dataset", `{"v":1,"run":"r","id":"i","kind":"k","payload":{},"dataset":{"name":"x","digest":"zz"}}`, "dataset digest"},
		{"oversized", `{"v":1,"run":"r","id":"i","kind":"k","payload":"` + strings.Repeat("x", MaxTaskBytes) + `"}`, "limit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeTask([]byte(c.data))
			require.ErrorIs(t, err, ErrMalformed)
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	task := validTask()
	task.Payload = json.RawMessage(`"` + strings.Repeat("x", MaxTaskBytes) + `"`)
	_, err := EncodeTask(task)
	require.ErrorContains(t, err, "pass large inputs as blobs")
	task.Payload = json.RawMessage(`{`)
	_, err = EncodeTask(task)
	require.ErrorIs(t, err, ErrMalformed)

	r := Result{Run: "r", Task: "t", Kind: "k", Status: StatusFailed, Error: strings.Repeat("e", 2*MaxErrorBytes)}
	b, err := EncodeResult(r)
	require.NoError(t, err, "a long reason is cut, not refused")
	got, err := DecodeResult(b)
	require.NoError(t, err)
	require.Len(t, got.Error, MaxErrorBytes)
	for _, bad := range []Result{
		{Run: "r", Task: "t", Kind: "k", Status: StatusDone},
		{Run: "r", Task: "t", Kind: "k", Status: StatusFailed},
		{Run: "r", Task: "t", Kind: "k", Status: "maybe", Error: "x"},
		{Run: "r", Task: "t", Status: StatusDone, Output: json.RawMessage(`1`)},
		{Run: "r.x", Task: "t", Kind: "k", Status: StatusFailed, Error: "x"},
	} {
		_, err := EncodeResult(bad)
		require.ErrorIs(t, err, ErrMalformed, "%+v", bad)
	}
}

// FuzzDecodeTask: no input makes the decoder panic, and what it accepts
// encodes and decodes to the same task.
func FuzzDecodeTask(f *testing.F) {
	good, _ := EncodeTask(validTask())
	f.Add(good)
	f.Add([]byte(`{"v":1,"run":"r","id":"i","kind":"k","payload":{},"dataset":{"name":"x","digest":"` + strings.Repeat("0", 64) + `","count":0}}`))
	f.Add([]byte("{{{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		task, err := DecodeTask(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		again, err := EncodeTask(*task)
		if err != nil {
			t.Fatalf("accepted task does not encode: %v", err)
		}
		back, err := DecodeTask(again)
		if err != nil {
			t.Fatalf("re-encoded task does not decode: %v", err)
		}
		require.Equal(t, task.Run, back.Run)
		require.Equal(t, task.ID, back.ID)
		require.JSONEq(t, string(task.Payload), string(back.Payload))
	})
}

// FuzzDecodeResult: no input makes the decoder panic.
func FuzzDecodeResult(f *testing.F) {
	good, _ := EncodeResult(Result{Run: "r", Task: "t", Kind: "k", Status: StatusDone, Output: json.RawMessage(`{"acc":0.5}`)})
	f.Add(good)
	f.Add([]byte(`{"v":1,"run":"r","task":"t","status":"failed","error":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResult(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		if _, err := EncodeResult(*r); err != nil {
			t.Fatalf("accepted result does not encode: %v", err)
		}
	})
}
