package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"nas/latency"
	"nas/space"
)

// DeviceBucket is the key-value bucket of device announcements, keyed by
// device name (Announcement).
func (n Names) DeviceBucket() string { return n.project + "_devices" }

// HelloSubject is where every agent of the device with fingerprint ID fp
// answers who it is (Hello).
func (n Names) HelloSubject(fp string) string { return n.project + ".devices." + fp + ".hello" }

// AgentSubject is where agent serves measurement requests for the device
// with fingerprint ID fp.
func (n Names) AgentSubject(fp, agent string) string {
	return n.project + ".devices." + fp + ".agents." + agent
}

// AgentCPUEnv names the test hook of the agent's fingerprint: an agent
// whose environment sets it reports that CPU model instead of its own,
// so that a test on one machine has an agent that stands for another
// device (its measurements are still of this machine). Nothing else reads
// it.
const AgentCPUEnv = "NAS_TEST_AGENT_CPU"

// AgentFingerprint is the fingerprint an agent measuring on threads
// threads reports: this machine's (latency.CurrentFingerprint), with the
// CPU model of AgentCPUEnv when that is set.
func AgentFingerprint(threads int) latency.Fingerprint {
	fp := latency.CurrentFingerprint(threads)
	if v := os.Getenv(AgentCPUEnv); v != "" {
		fp.CPUModel = v
	}
	return fp
}

// Agent serves the measurements of the device it runs on to profiles and
// searches on other machines: it announces the device's fingerprint under
// the device's name, answers hellos, and measures one request at a time
// with latency.Profiler, so that an entry measured through it equals one
// a `nas profile` on the device stores.
type Agent struct {
	// Device is the name the device is known by (CheckDeviceName).
	Device string
	// Name addresses this agent among the device's (default: host name
	// and process ID).
	Name string
	// Threads is the thread count of the measurements, part of the
	// fingerprint (default 1).
	Threads int
	// Fingerprint is the device's (default AgentFingerprint(Threads)).
	Fingerprint latency.Fingerprint
	// Log receives one line per measurement and per refused message.
	Log *slog.Logger

	// profilers hold, per batch and protocol, the profiler that measures
	// (it caches the boundary of each output shape, as a profile does).
	profilers map[profilerKey]*latency.Profiler
}

type profilerKey struct {
	batch int
	p     latency.Protocol
}

// agentPending bounds the requests an agent holds (the capacity of its
// subscription's channel: more are dropped as a slow consumer's, and
// their requesters time out); the server bounds each message by its
// max_payload, and the agent reads at most MaxMeasureRequestBytes of it.
const agentPending = 256

// Run announces the agent on nc under project and serves requests until
// ctx is cancelled, then returns nil. It refuses a device name that the
// live agents of another fingerprint hold.
func (a *Agent) Run(ctx context.Context, nc *nats.Conn, project string) error {
	if err := a.defaults(); err != nil {
		return err
	}
	names, err := NewNames(project)
	if err != nil {
		return err
	}
	log := a.logger()
	fp := a.Fingerprint.ID()
	hello, err := encodeDevice(Hello{Version: deviceMessage, Agent: a.Name, Device: fp}, MaxAnnouncementBytes)
	if err != nil {
		return err
	}
	helloSub, err := nc.Subscribe(names.HelloSubject(fp), func(m *nats.Msg) { _ = m.Respond(hello) })
	if err != nil {
		return err
	}
	defer helloSub.Unsubscribe()
	requests := make(chan *nats.Msg, agentPending)
	sub, err := nc.ChanSubscribe(names.AgentSubject(fp, a.Name), requests)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	if err := a.announce(ctx, nc, names); err != nil {
		return err
	}
	log.Info("agent serving", "device", a.Device, "fingerprint", fp, "agent", a.Name, "server", nc.ConnectedUrlRedacted(), "project", names.Project(), "what", a.Fingerprint.String())
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-requests:
			a.serve(ctx, m)
		}
	}
}

func (a *Agent) defaults() error {
	if err := CheckDeviceName(a.Device); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if a.Threads == 0 {
		a.Threads = 1
	}
	if a.Name == "" {
		host, _ := os.Hostname()
		a.Name = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if !idPattern.MatchString(a.Name) {
		return fmt.Errorf("agent name %q: want 1 to 64 letters, digits, '-' or '_'", clip(a.Name))
	}
	if a.Fingerprint.CPUModel == "" {
		a.Fingerprint = AgentFingerprint(a.Threads)
	}
	return checkFingerprint(a.Fingerprint)
}

func (a *Agent) logger() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

// announce writes the device's announcement under its name, unless the
// name is another fingerprint's and an agent of it answers.
func (a *Agent) announce(ctx context.Context, nc *nats.Conn, names Names) error {
	kv, err := devicesBucket(ctx, nc, names, true)
	if err != nil {
		return err
	}
	if e, err := kv.Get(ctx, a.Device); err == nil {
		if old, derr := decodeAnnouncement(e.Value()); derr == nil && old.Fingerprint.ID() != a.Fingerprint.ID() {
			if live, _ := discover(ctx, nc, names, old.Fingerprint.ID(), 500*time.Millisecond); len(live) > 0 {
				return fmt.Errorf("agent: device name %s is served by %d agent(s) of another device, %s (%s): give this one another --device name",
					a.Device, len(live), old.Fingerprint.ID(), old.Fingerprint)
			}
		}
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("agent: reading device %s: %w", a.Device, err)
	}
	b, err := encodeDevice(Announcement{Version: deviceMessage, Device: a.Device, Fingerprint: a.Fingerprint, Agent: a.Name, At: time.Now().UTC()}, MaxAnnouncementBytes)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, a.Device, b); err != nil {
		return fmt.Errorf("agent: announcing device %s: %w", a.Device, err)
	}
	return nil
}

// devicesBucket opens the project's devices bucket, creating it when
// create is set.
func devicesBucket(ctx context.Context, nc *nats.Conn, names Names, create bool) (jetstream.KeyValue, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	kv, err := js.KeyValue(ctx, names.DeviceBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) && create {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: names.DeviceBucket(),
			Description: "devices of project " + names.Project() + " served by nas agent, keyed by name",
			History:     1, MaxValueSize: MaxAnnouncementBytes, Storage: jetstream.FileStorage})
		if lostRace(err) {
			kv, err = js.KeyValue(ctx, names.DeviceBucket())
		}
	}
	if err != nil {
		return nil, fmt.Errorf("nats bucket %s: %w (is JetStream enabled on the server? nats-server -js)", names.DeviceBucket(), err)
	}
	return kv, nil
}

// serve answers one request; nothing in it can stop the agent.
func (a *Agent) serve(ctx context.Context, m *nats.Msg) {
	start := time.Now()
	rep := a.measure(ctx, m.Data)
	if ctx.Err() != nil && rep.Error != "" {
		rep = MeasureReply{Error: "agent " + a.Name + " stopped before it finished", Retry: true}
	}
	rep.Version, rep.Agent, rep.Device, rep.ElapsedNs = deviceMessage, a.Name, a.Fingerprint.ID(), int64(time.Since(start))
	log := a.logger().With("bytes", len(m.Data), "elapsed", time.Since(start).Round(time.Millisecond))
	if rep.Error != "" {
		log.Warn("request refused", "err", rep.Error)
	} else {
		log.Info("measured", "p10_ns", rep.Entry.P10Ns)
	}
	if m.Reply == "" {
		return // nobody to answer
	}
	b, err := encodeDevice(rep, MaxMeasureReplyBytes)
	if err != nil {
		b, _ = encodeDevice(MeasureReply{Version: deviceMessage, Agent: a.Name, Device: a.Fingerprint.ID(), Error: err.Error()}, MaxMeasureReplyBytes)
	}
	if err := m.Respond(b); err != nil {
		log.Warn("reply not sent", "err", err)
	}
}

// measure runs one request; a panic in it becomes the reply's error.
func (a *Agent) measure(ctx context.Context, data []byte) (rep MeasureReply) {
	defer func() {
		if r := recover(); r != nil {
			rep = MeasureReply{Error: fmt.Sprintf("agent: measurement failed: %v\n%s", r, clip(string(debug.Stack())))}
		}
	}()
	refuse := func(err error) MeasureReply { return MeasureReply{Error: clipError(err.Error()), Refused: true} }
	req, err := DecodeMeasureRequest(data)
	if err != nil {
		return refuse(err)
	}
	if req.Device != a.Fingerprint.ID() {
		return refuse(fmt.Errorf("%w: the request is for device %s, this agent measures %s (%s)", ErrRefused, req.Device, a.Fingerprint.ID(), a.Fingerprint))
	}
	proto, _ := req.Protocol.protocol()
	var m latency.Measurement
	var inside []float64
	if req.Key != "" {
		it, batch, err := latency.ParseKey(req.Key)
		if err != nil {
			return refuse(err)
		}
		m, err = a.profiler(batch, proto).MeasureItem(ctx, it)
		if err != nil {
			return MeasureReply{Error: clipError(fmt.Sprintf("measuring %s: %v", req.Key, err))}
		}
	} else {
		arch, err := space.ParseArch(req.Arch)
		if err != nil {
			return refuse(fmt.Errorf("%w: arch: %v", ErrMalformed, err))
		}
		m, inside, err = a.profiler(req.Batch, proto).MeasureNetwork(ctx, arch, req.Inside)
		if err != nil {
			return MeasureReply{Error: clipError(fmt.Sprintf("measuring network: %v", err))}
		}
	}
	e := m.Entry
	return MeasureReply{Entry: &e, RunsPerSample: m.RunsPerSample, Stable: m.Stable, ProbeDropped: m.ProbeDropped,
		Contended: m.Contended, WaitedNs: int64(m.Waited), Inside: inside}
}

func (a *Agent) profiler(batch int, p latency.Protocol) *latency.Profiler {
	k := profilerKey{batch, p}
	if a.profilers == nil {
		a.profilers = map[profilerKey]*latency.Profiler{}
	}
	if pr, ok := a.profilers[k]; ok {
		return pr
	}
	pr := &latency.Profiler{Compile: latency.PlanCompiler(1), Protocol: p, Batch: batch, Threads: a.Threads}
	if len(a.profilers) >= 64 { // a bound, for requesters that vary protocols
		clear(a.profilers)
	}
	a.profilers[k] = pr
	return pr
}

func clipError(s string) string {
	if len(s) > MaxErrorBytes {
		return s[:MaxErrorBytes-3] + "..."
	}
	return s
}

// ServeAgent connects to the server of s and runs a until ctx is
// cancelled: the whole life of a `nas agent` process.
func ServeAgent(ctx context.Context, s Settings, a *Agent) error {
	if err := a.defaults(); err != nil {
		return err
	}
	if s.Name == "" {
		s.Name = "agent " + a.Name
	}
	nc, err := Connect(s)
	if err != nil {
		return err
	}
	defer nc.Close()
	return a.Run(ctx, nc, s.Project)
}
