package cluster

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"nas/latency"
)

// Limits of the device messages. A request is a table key or an arch
// string and a protocol; a reply is one entry and at most a network's
// blocks' times. Anything larger is malformed.
const (
	// MaxMeasureRequestBytes bounds a measurement request.
	MaxMeasureRequestBytes = 64 << 10
	// MaxMeasureReplyBytes bounds a measurement reply.
	MaxMeasureReplyBytes = 64 << 10
	// MaxAnnouncementBytes bounds a device's announcement and an agent's
	// hello.
	MaxAnnouncementBytes = 16 << 10
)

// maxInsideBlocks bounds the blocks' times a network reply carries.
const maxInsideBlocks = 4096

// deviceName is an agent's device name: a subject-safe token that is not
// a fingerprint ID (those start with "fp-"; --device takes both).
var deviceName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CheckDeviceName refuses a device name that cannot name an agent's
// device: 1 to 64 letters, digits, '-' or '_', not starting with "fp-".
func CheckDeviceName(name string) error {
	if !deviceName.MatchString(name) || strings.HasPrefix(name, "fp-") {
		return fmt.Errorf("device name %q: want 1 to 64 letters, digits, '-' or '_', not starting with \"fp-\" (fingerprint IDs name a table's devices)", clip(name))
	}
	return nil
}

// Announcement is what an agent publishes under its device name in the
// devices bucket: the device's fingerprint, whose ID names the bucket its
// entries land in.
type Announcement struct {
	Version     int                 `json:"v"`
	Device      string              `json:"device"`
	Fingerprint latency.Fingerprint `json:"fingerprint"`
	Agent       string              `json:"agent"` // the agent that wrote it last
	At          time.Time           `json:"at"`
}

func (a *Announcement) check() error {
	if err := CheckDeviceName(a.Device); err != nil {
		return fmt.Errorf("%w: announcement: %v", ErrMalformed, err)
	}
	if !idPattern.MatchString(a.Agent) {
		return fmt.Errorf("%w: announcement of %s: agent %q", ErrMalformed, a.Device, clip(a.Agent))
	}
	return checkFingerprint(a.Fingerprint)
}

// checkFingerprint refuses a fingerprint that cannot name a device.
func checkFingerprint(f latency.Fingerprint) error {
	if f.CPUModel == "" || f.GOOS == "" || f.GOARCH == "" || f.KernelPath == "" || f.Threads < 1 || f.Threads > 4096 {
		return fmt.Errorf("%w: fingerprint %q: want a cpu, goos, goarch, kernel path and 1 to 4096 threads", ErrMalformed, clip(f.Canonical()))
	}
	return nil
}

// Hello is an agent's answer on its device's hello subject: its name,
// which addresses it (Names.AgentSubject).
type Hello struct {
	Version int    `json:"v"`
	Agent   string `json:"agent"`
	Device  string `json:"device"` // the fingerprint ID
}

// WireProtocol is latency.Protocol on the wire. Zero fields are the
// protocol's defaults, as in latency.Protocol.
type WireProtocol struct {
	WarmupRuns   int     `json:"warmup_runs,omitempty"`
	WarmupNs     int64   `json:"warmup_ns,omitempty"`
	MinSampleNs  int64   `json:"min_sample_ns,omitempty"`
	MinSamples   int     `json:"min_samples,omitempty"`
	MaxSamples   int     `json:"max_samples,omitempty"`
	CapNs        int64   `json:"cap_ns,omitempty"`
	Tolerance    float64 `json:"tolerance,omitempty"`
	GCBudget     int64   `json:"gc_budget,omitempty"`
	Clock        string  `json:"clock,omitempty"`
	NoProbe      bool    `json:"no_probe,omitempty"`
	ProbeWaitNs  int64   `json:"probe_wait_ns,omitempty"`
	FlushWeights bool    `json:"flush_weights,omitempty"`
}

func wireProtocol(p latency.Protocol) WireProtocol {
	return WireProtocol{WarmupRuns: p.WarmupRuns, WarmupNs: int64(p.WarmupTime), MinSampleNs: int64(p.MinSampleTime),
		MinSamples: p.MinSamples, MaxSamples: p.MaxSamples, CapNs: int64(p.MaxTime), Tolerance: p.Tolerance, GCBudget: p.GCBudget,
		Clock: string(p.Clock), NoProbe: p.NoProbe, ProbeWaitNs: int64(p.ProbeWait), FlushWeights: p.FlushWeights}
}

// Bounds of a requested protocol: a measurement an agent takes lasts at
// most a few of its caps.
const (
	maxWireDuration = int64(time.Minute)
	maxWireCount    = 100_000
)

func (w WireProtocol) protocol() (latency.Protocol, error) {
	for _, d := range []int64{w.WarmupNs, w.MinSampleNs, w.CapNs, w.ProbeWaitNs} {
		if d < 0 || d > maxWireDuration {
			return latency.Protocol{}, fmt.Errorf("%w: protocol: a duration of %v: want 0 to %v", ErrMalformed, time.Duration(d), time.Duration(maxWireDuration))
		}
	}
	for _, n := range []int{w.WarmupRuns, w.MinSamples, w.MaxSamples} {
		if n < 0 || n > maxWireCount {
			return latency.Protocol{}, fmt.Errorf("%w: protocol: a count of %d: want 0 to %d", ErrMalformed, n, maxWireCount)
		}
	}
	switch {
	case math.IsNaN(w.Tolerance) || w.Tolerance < 0 || w.Tolerance >= 1:
		return latency.Protocol{}, fmt.Errorf("%w: protocol: tolerance %v: want 0 (default) to below 1", ErrMalformed, w.Tolerance)
	case w.GCBudget < 0:
		return latency.Protocol{}, fmt.Errorf("%w: protocol: gc budget %d", ErrMalformed, w.GCBudget)
	case w.Clock != "" && w.Clock != string(latency.ClockWall) && w.Clock != string(latency.ClockThreadCPU):
		return latency.Protocol{}, fmt.Errorf("%w: protocol: clock %q: want %s or %s", ErrMalformed, clip(w.Clock), latency.ClockWall, latency.ClockThreadCPU)
	case w.FlushWeights:
		return latency.Protocol{}, fmt.Errorf("%w: protocol: flush_weights is the profiler's own (its cold entries)", ErrMalformed)
	}
	return latency.Protocol{WarmupRuns: w.WarmupRuns, WarmupTime: time.Duration(w.WarmupNs), MinSampleTime: time.Duration(w.MinSampleNs),
		MinSamples: w.MinSamples, MaxSamples: w.MaxSamples, MaxTime: time.Duration(w.CapNs), Tolerance: w.Tolerance, GCBudget: w.GCBudget,
		Clock: latency.Clock(w.Clock), NoProbe: w.NoProbe, ProbeWait: time.Duration(w.ProbeWaitNs)}, nil
}

// MeasureRequest asks an agent for one measurement: an item of a table
// (Key, read with latency.ParseKey) or a whole network (Arch, an arch
// string), under Protocol, on the device Device.
type MeasureRequest struct {
	Version int `json:"v"`
	// Device is the fingerprint ID the requester stores the measurement
	// under; an agent of another device refuses the request.
	Device string `json:"device"`
	Key    string `json:"key,omitempty"`
	Arch   string `json:"arch,omitempty"`
	// Batch is the batch of a network; a key holds its own.
	Batch int `json:"batch,omitempty"`
	// Inside asks, with Arch, for the time of each block inside the
	// network as well (latency.Profiler.MeasureNetwork).
	Inside   bool         `json:"inside,omitempty"`
	Protocol WireProtocol `json:"protocol"`
}

func (r *MeasureRequest) check() error {
	switch {
	case !strings.HasPrefix(r.Device, "fp-") || len(r.Device) > 64:
		return fmt.Errorf("%w: request: device %q: want a fingerprint ID, fp-...", ErrMalformed, clip(r.Device))
	case (r.Key == "") == (r.Arch == ""):
		return fmt.Errorf("%w: request: give a key or an arch, one of them", ErrMalformed)
	case r.Arch != "" && (r.Batch < 1 || r.Batch > 1024):
		return fmt.Errorf("%w: request: batch %d: want 1 to 1024", ErrMalformed, r.Batch)
	case r.Key != "" && (r.Batch != 0 || r.Inside):
		return fmt.Errorf("%w: request: a key holds its batch, and has no blocks inside", ErrMalformed)
	}
	_, err := r.Protocol.protocol()
	return err
}

// MeasureReply is an agent's answer: a measurement, or why there is none.
type MeasureReply struct {
	Version int    `json:"v"`
	Agent   string `json:"agent"`
	Device  string `json:"device"` // the agent's fingerprint ID
	// Error, when set, is why the agent did not measure; nothing else is.
	Error string `json:"error,omitempty"`
	// Refused says the request itself was at fault (malformed, another
	// device's): sending it again, to any agent, gives the same answer.
	Refused bool `json:"refused,omitempty"`
	// Retry says the agent stopped before it finished: another agent of
	// the device should take the request.
	Retry         bool           `json:"retry,omitempty"`
	Entry         *latency.Entry `json:"entry,omitempty"`
	RunsPerSample int            `json:"runs_per_sample,omitempty"`
	Stable        bool           `json:"stable,omitempty"`
	ProbeDropped  int            `json:"probe_dropped,omitempty"`
	Contended     bool           `json:"contended,omitempty"`
	WaitedNs      int64          `json:"waited_ns,omitempty"`
	Inside        []float64      `json:"inside,omitempty"`
	ElapsedNs     int64          `json:"elapsed_ns,omitempty"`
}

func (r *MeasureReply) check() error {
	switch {
	case !idPattern.MatchString(r.Agent):
		return fmt.Errorf("%w: reply: agent %q", ErrMalformed, clip(r.Agent))
	case r.Retry && r.Error == "":
		return fmt.Errorf("%w: reply: a retry without a reason", ErrMalformed)
	case r.Error != "":
		if r.Entry != nil || len(r.Inside) > 0 {
			return fmt.Errorf("%w: reply: an error with a measurement", ErrMalformed)
		}
		return nil
	case r.Entry == nil:
		return fmt.Errorf("%w: reply: neither a measurement nor an error", ErrMalformed)
	case len(r.Inside) > maxInsideBlocks:
		return fmt.Errorf("%w: reply: %d blocks' times, limit %d", ErrMalformed, len(r.Inside), maxInsideBlocks)
	case r.RunsPerSample < 0 || r.ProbeDropped < 0 || r.WaitedNs < 0 || r.ElapsedNs < 0:
		return fmt.Errorf("%w: reply: a negative count or time", ErrMalformed)
	}
	if err := r.Entry.Validate(); err != nil {
		return fmt.Errorf("%w: reply: %v", ErrMalformed, err)
	}
	for _, v := range r.Inside {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("%w: reply: a block's time of %v ns", ErrMalformed, v)
		}
	}
	return nil
}

func (r *MeasureReply) measurement() latency.Measurement {
	return latency.Measurement{Entry: *r.Entry, RunsPerSample: r.RunsPerSample, Stable: r.Stable,
		ProbeDropped: r.ProbeDropped, Contended: r.Contended, Waited: time.Duration(r.WaitedNs)}
}

// deviceMessage is the version of the device messages.
const deviceMessage = 1

// encodeDevice stamps v's version and marshals it within limit.
func encodeDevice(v any, limit int) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%w: message of %d bytes, limit %d", ErrMalformed, len(b), limit)
	}
	return b, nil
}

// DecodeMeasureRequest reads and checks a request.
func DecodeMeasureRequest(b []byte) (*MeasureRequest, error) {
	var r MeasureRequest
	if err := decodeStrict(b, MaxMeasureRequestBytes, "measurement request", &r); err != nil {
		return nil, err
	}
	if r.Version != deviceMessage {
		return nil, fmt.Errorf("%w: measurement request version %d, this agent reads %d (run the same nas release on both sides)", ErrMalformed, r.Version, deviceMessage)
	}
	return &r, r.check()
}

// DecodeMeasureReply reads and checks a reply.
func DecodeMeasureReply(b []byte) (*MeasureReply, error) {
	var r MeasureReply
	if err := decodeStrict(b, MaxMeasureReplyBytes, "measurement reply", &r); err != nil {
		return nil, err
	}
	if r.Version != deviceMessage {
		return nil, fmt.Errorf("%w: measurement reply version %d, this nas reads %d (run the same nas release on both sides)", ErrMalformed, r.Version, deviceMessage)
	}
	return &r, r.check()
}

// decodeAnnouncement reads and checks an announcement.
func decodeAnnouncement(b []byte) (*Announcement, error) {
	var a Announcement
	if err := decodeStrict(b, MaxAnnouncementBytes, "device announcement", &a); err != nil {
		return nil, err
	}
	if a.Version != deviceMessage {
		return nil, fmt.Errorf("%w: announcement version %d, this nas reads %d", ErrMalformed, a.Version, deviceMessage)
	}
	return &a, a.check()
}

// decodeHello reads and checks an agent's hello.
func decodeHello(b []byte) (*Hello, error) {
	var h Hello
	if err := decodeStrict(b, MaxAnnouncementBytes, "agent hello", &h); err != nil {
		return nil, err
	}
	if h.Version != deviceMessage || !idPattern.MatchString(h.Agent) {
		return nil, fmt.Errorf("%w: agent hello: version %d, agent %q", ErrMalformed, h.Version, clip(h.Agent))
	}
	return &h, nil
}
