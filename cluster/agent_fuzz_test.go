package cluster

import (
	"encoding/json"
	"errors"
	"testing"

	"nas/latency"
	"nas/space"
)

// FuzzDecodeMeasureRequest: no input makes the agent's reading of a
// request panic: the decoder, then the key or arch it accepts.
func FuzzDecodeMeasureRequest(f *testing.F) {
	good, _ := json.Marshal(MeasureRequest{Version: deviceMessage, Device: "fp-0123456789abcdef", Key: "conv_o4_k3_s2_arelu|3x8x8|b1", Protocol: wireProtocol(agentProtocol)})
	f.Add(good)
	f.Add([]byte(`{"v":1,"device":"fp-1","arch":"in3x8x8 cls4 | gap | linear_o4","batch":1,"inside":true,"protocol":{}}`))
	f.Add([]byte(`{"v":1,"device":"fp-1","key":"overhead|3x8x8|b1","protocol":{"cap_ns":-1}}`))
	f.Add([]byte("{{{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeMeasureRequest(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		if r.Key != "" {
			if _, _, err := latency.ParseKey(r.Key); err != nil && !errors.Is(err, latency.ErrInvalidEntry) {
				t.Fatalf("key error not ErrInvalidEntry: %v", err)
			}
		} else {
			_, _ = space.ParseArch(r.Arch)
		}
	})
}

// FuzzDecodeMeasureReply: no input makes the requester's reading of a
// reply panic, and an accepted measurement is a valid entry.
func FuzzDecodeMeasureReply(f *testing.F) {
	f.Add([]byte(`{"v":1,"agent":"a","device":"fp-1","entry":{"median_ns":2,"p10_ns":1,"p90_ns":3,"samples":5,"measured_at":"2026-01-01T00:00:00Z"},"inside":[1,2]}`))
	f.Add([]byte(`{"v":1,"agent":"a","device":"fp-1","error":"x","refused":true}`))
	f.Add([]byte(`{"v":1,"agent":"a","entry":{"median_ns":1e400}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeMeasureReply(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		if r.Error == "" {
			if err := r.measurement().Validate(); err != nil {
				t.Fatalf("accepted reply's entry is invalid: %v", err)
			}
		}
	})
}
