package cluster

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"nas/blocks"
	"nas/internal/natstest"
	"nas/latency"
	"nas/pipeline"
	"nas/space"
)

// agentProtocol keeps the agent tests' measurements short.
var agentProtocol = latency.Protocol{WarmupRuns: 2, WarmupTime: time.Millisecond, MinSamples: 5, MaxSamples: 40,
	MaxTime: 20 * time.Millisecond, MinSampleTime: time.Microsecond, NoProbe: true}

func agentConn(t *testing.T, srv *natstest.Server, name string) *nats.Conn {
	t.Helper()
	nc, err := Connect(Settings{URL: srv.URL(), Name: name, ReconnectWait: 100 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// startAgent runs a in this process until the returned stop is called
// (or the test ends), and waits until it answers.
func startAgent(t *testing.T, srv *natstest.Server, a *Agent) (stop func()) {
	t.Helper()
	a.Log = testLog(t)
	nc := agentConn(t, srv, "agent "+a.Name)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.Run(ctx, nc, ""); err != nil {
			t.Errorf("agent %s: %v", a.Name, err)
		}
	}()
	require.Eventually(t, func() bool {
		d, err := OpenDevice(context.Background(), agentConn(t, srv, "probe"), "", a.Device, DeviceOptions{Discover: 100 * time.Millisecond})
		return err == nil && d.Fingerprint().ID() == a.Fingerprint.ID()
	}, 10*time.Second, 50*time.Millisecond)
	var once sync.Once
	// Once stopped, the server has the agent's unsubscriptions (Flush), so
	// that a request sent after stop finds no responder.
	stop = func() { once.Do(func() { cancel(); wg.Wait(); _ = nc.Flush() }) }
	t.Cleanup(stop)
	return stop
}

func boardFingerprint(cpu string) latency.Fingerprint {
	fp := latency.CurrentFingerprint(1)
	fp.CPUModel = cpu
	return fp
}

func tinyAgentArch() *space.Arch {
	return &space.Arch{Name: "tiny", Input: blocks.Shape{C: 3, H: 8, W: 8}, Classes: 4, Layers: []blocks.Spec{
		&blocks.Conv{Out: 4, Kernel: 3, Stride: 2, Act: blocks.ActReLU},
		&blocks.Conv{Out: 8, Kernel: 1, Act: blocks.ActReLU},
		&blocks.GlobalPool{},
		&blocks.Linear{Out: 4},
	}}
}

// TestAgentProfile: a profile through an agent stores the agent device's
// measurements under its fingerprint, and the table is refused as this
// machine's.
func TestAgentProfile(t *testing.T) {
	srv := natstest.Start(t)
	board := boardFingerprint("test board")
	startAgent(t, srv, &Agent{Device: "board", Name: "a1", Fingerprint: board})
	dev, err := OpenDevice(context.Background(), agentConn(t, srv, "profile"), "", "board", DeviceOptions{})
	require.NoError(t, err)
	require.Equal(t, board.ID(), dev.Fingerprint().ID())
	require.Equal(t, 1, dev.Concurrency())

	path := filepath.Join(t.TempDir(), "lut.db")
	tbl, err := latency.OpenRemote(path, dev.Fingerprint(), latency.Options{})
	require.NoError(t, err)
	a := tinyAgentArch()
	items, err := latency.ArchItems(a, 1)
	require.NoError(t, err)
	p := &latency.Profiler{Table: tbl, Measurer: dev, Protocol: agentProtocol, Calibration: []*space.Arch{a}}
	st, err := p.Profile(context.Background(), items)
	require.NoError(t, err)
	require.Equal(t, len(items), st.Measured)
	for _, it := range items {
		e, ok, err := tbl.Get(it.Key)
		require.NoError(t, err)
		require.True(t, ok, it.Key)
		require.NoError(t, e.Validate())
	}
	over, _, err := tbl.Get(latency.OverheadKey(a.Input, 1))
	require.NoError(t, err)
	require.Positive(t, over.Scale, "the overhead is calibrated on the network measured on the agent")
	require.NoError(t, tbl.Close())

	_, err = latency.Open(path, latency.CurrentFingerprint(1), latency.Options{ReadOnly: true})
	require.ErrorIs(t, err, latency.ErrFingerprintMismatch)
	require.Contains(t, err.Error(), board.ID())
}

// TestAgentRefusesGarbage: malformed, oversized and foreign requests get
// a refusal, and the agent goes on measuring.
func TestAgentRefusesGarbage(t *testing.T) {
	srv := natstest.Start(t)
	board := boardFingerprint("test board")
	startAgent(t, srv, &Agent{Device: "board", Name: "a1", Fingerprint: board})
	nc := agentConn(t, srv, "garbage")
	names, _ := NewNames("")
	subject := names.AgentSubject(board.ID(), "a1")
	valid := func(mut func(*MeasureRequest)) []byte {
		r := MeasureRequest{Version: deviceMessage, Device: board.ID(), Key: "conv_o4_k3_s2_arelu|3x8x8|b1", Protocol: wireProtocol(agentProtocol)}
		if mut != nil {
			mut(&r)
		}
		b, err := json.Marshal(r)
		require.NoError(t, err)
		return b
	}
	garbage := map[string][]byte{
		"not JSON":       []byte("\x00\xffnot json"),
		"oversized":      []byte(`{"v":1,"device":"` + strings.Repeat("x", MaxMeasureRequestBytes) + `"}`),
		"unknown field":  []byte(`{"v":1,"device":"fp-1","key":"k","rm":"-rf"}`),
		"other version":  valid(func(r *MeasureRequest) { r.Version = 9 }),
		"other device":   valid(func(r *MeasureRequest) { r.Device = "fp-0000000000000000" }),
		"bad key":        valid(func(r *MeasureRequest) { r.Key = "conv_o4_k3|3x8x8" }),
		"huge block":     valid(func(r *MeasureRequest) { r.Key = "conv_o99999999_k3|3x8x8|b1" }),
		"huge input":     valid(func(r *MeasureRequest) { r.Key = "conv_o4_k3|3x99999x99999|b1" }),
		"key and arch":   valid(func(r *MeasureRequest) { r.Arch = "in3x8x8 cls4 | gap | linear_o4"; r.Batch = 1 }),
		"bad arch":       valid(func(r *MeasureRequest) { r.Key, r.Arch, r.Batch = "", "in3x8x8 | nope", 1 }),
		"long cap":       valid(func(r *MeasureRequest) { r.Protocol.CapNs = int64(time.Hour) }),
		"bad tolerance":  valid(func(r *MeasureRequest) { r.Protocol.Tolerance = 2 }),
		"flushed":        valid(func(r *MeasureRequest) { r.Protocol.FlushWeights = true }),
		"negative batch": valid(func(r *MeasureRequest) { r.Key, r.Arch, r.Batch = "", "in3x8x8 cls4 | gap | linear_o4", -1 }),
	}
	for what, b := range garbage {
		msg, err := nc.Request(subject, b, 10*time.Second)
		require.NoError(t, err, what)
		rep, err := DecodeMeasureReply(msg.Data)
		require.NoError(t, err, what)
		require.True(t, rep.Refused, what)
		require.NotEmpty(t, rep.Error, what)
		require.Nil(t, rep.Entry, what)
	}
	// A message without a reply subject is dropped, and the agent still
	// measures.
	require.NoError(t, nc.Publish(subject, []byte("{")))
	msg, err := nc.Request(subject, valid(nil), 10*time.Second)
	require.NoError(t, err)
	rep, err := DecodeMeasureReply(msg.Data)
	require.NoError(t, err)
	require.Empty(t, rep.Error)
	require.Positive(t, rep.Entry.P10Ns)
}

// fakeAgent answers hellos for fp as agent name and requests with reply.
func fakeAgent(t *testing.T, srv *natstest.Server, fp latency.Fingerprint, device, name string, reply func(*nats.Msg)) {
	t.Helper()
	nc := agentConn(t, srv, "fake "+name)
	names, _ := NewNames("")
	hello, err := json.Marshal(Hello{Version: deviceMessage, Agent: name, Device: fp.ID()})
	require.NoError(t, err)
	_, err = nc.Subscribe(names.HelloSubject(fp.ID()), func(m *nats.Msg) { _ = m.Respond(hello) })
	require.NoError(t, err)
	_, err = nc.Subscribe(names.AgentSubject(fp.ID(), name), reply)
	require.NoError(t, err)
	kv, err := devicesBucket(context.Background(), nc, names, true)
	require.NoError(t, err)
	ann, err := json.Marshal(Announcement{Version: deviceMessage, Device: device, Fingerprint: fp, Agent: name, At: time.Now()})
	require.NoError(t, err)
	_, err = kv.Put(context.Background(), device, ann)
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
}

// TestDeviceRefusesBadReplies: an oversized or malformed reply, or one of
// another device, is an error naming the device and the agent, not a
// measurement.
func TestDeviceRefusesBadReplies(t *testing.T) {
	srv := natstest.Start(t)
	board := boardFingerprint("liar board")
	replies := map[string][]byte{
		"oversized": []byte(`{"v":1,"agent":"liar","device":"` + board.ID() + `","error":"` + strings.Repeat("x", MaxMeasureReplyBytes) + `"}`),
		"garbage":   []byte("\x00garbage"),
		"negative":  []byte(`{"v":1,"agent":"liar","device":"` + board.ID() + `","entry":{"median_ns":-1,"p10_ns":-1,"p90_ns":-1,"samples":1,"measured_at":"2026-01-01T00:00:00Z"}}`),
		"foreign":   []byte(`{"v":1,"agent":"liar","device":"fp-0000000000000000","entry":{"median_ns":1,"p10_ns":1,"p90_ns":1,"samples":1,"measured_at":"2026-01-01T00:00:00Z"}}`),
	}
	var mu sync.Mutex
	current := ""
	fakeAgent(t, srv, board, "liar", "liar", func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		_ = m.Respond(replies[current])
	})
	dev, err := OpenDevice(context.Background(), agentConn(t, srv, "profile"), "", "liar", DeviceOptions{})
	require.NoError(t, err)
	it, _, err := latency.ParseKey("conv_o4_k3_s2_arelu|3x8x8|b1")
	require.NoError(t, err)
	for what := range replies {
		mu.Lock()
		current = what
		mu.Unlock()
		_, err := dev.MeasureItem(context.Background(), it, 1, agentProtocol)
		require.ErrorIs(t, err, ErrMalformed, what)
		require.Contains(t, err.Error(), "device liar ("+board.ID()+"): agent liar", what)
		if what == "oversized" {
			require.Contains(t, err.Error(), "limit 65536")
		}
	}
}

// TestDeviceDeadAgent: a device whose agent stopped, or stopped
// answering, fails with ErrNoAgent naming the device and the command that
// serves it.
func TestDeviceDeadAgent(t *testing.T) {
	srv := natstest.Start(t)
	board := boardFingerprint("test board")
	stop := startAgent(t, srv, &Agent{Device: "board", Name: "a1", Fingerprint: board})
	nc := agentConn(t, srv, "profile")
	dev, err := OpenDevice(context.Background(), nc, "", "board", DeviceOptions{Timeout: 20 * time.Second})
	require.NoError(t, err)
	stop()
	it, _, err := latency.ParseKey("conv_o4_k3_s2_arelu|3x8x8|b1")
	require.NoError(t, err)
	_, err = dev.MeasureItem(context.Background(), it, 1, agentProtocol)
	require.ErrorIs(t, err, ErrNoAgent)
	require.Contains(t, err.Error(), "device board ("+board.ID()+")")
	require.Contains(t, err.Error(), "nas agent --nats "+srv.URL()+" --device board")
	_, err = OpenDevice(context.Background(), nc, "", "board", DeviceOptions{})
	require.ErrorIs(t, err, ErrNoAgent)
	_, err = OpenDevice(context.Background(), nc, "", "nowhere", DeviceOptions{})
	require.ErrorIs(t, err, ErrNoAgent)
	require.Contains(t, err.Error(), "nas agent --nats "+srv.URL()+" --device nowhere")

	// An agent that answers hellos but not requests is lost after the
	// timeout.
	mute := boardFingerprint("mute board")
	fakeAgent(t, srv, mute, "mute", "mute", func(*nats.Msg) {})
	dev, err = OpenDevice(context.Background(), nc, "", "mute", DeviceOptions{Timeout: 300 * time.Millisecond})
	require.NoError(t, err)
	_, err = dev.MeasureItem(context.Background(), it, 1, agentProtocol)
	require.ErrorIs(t, err, ErrNoAgent)
	require.Contains(t, err.Error(), "no answer within 300ms")
	require.Contains(t, err.Error(), "device mute ("+mute.ID()+")")
}

// TestAgentNameTaken: a device name served by live agents of another
// fingerprint is refused; once they are gone, it can be taken.
func TestAgentNameTaken(t *testing.T) {
	srv := natstest.Start(t)
	stop := startAgent(t, srv, &Agent{Device: "board", Name: "a1", Fingerprint: boardFingerprint("one board")})
	other := &Agent{Device: "board", Name: "a2", Fingerprint: boardFingerprint("another board")}
	err := other.Run(context.Background(), agentConn(t, srv, "a2"), "")
	require.ErrorContains(t, err, "device name board is served by 1 agent(s) of another device")
	stop()
	startAgent(t, srv, other)
	require.Error(t, CheckDeviceName("fp-abc"))
	require.Error(t, CheckDeviceName("a.b"))
}

// TestAgentFillsPredictions: a predictor for an agent's device (what nas
// search --device NAME --nats opens) measures the entries it lacks on the
// agent, under the device's fingerprint, and times networks there.
func TestAgentFillsPredictions(t *testing.T) {
	srv := natstest.Start(t)
	board := boardFingerprint("test board")
	startAgent(t, srv, &Agent{Device: "board", Name: "a1", Fingerprint: board})
	dev, err := OpenDevice(context.Background(), agentConn(t, srv, "search"), "", "board", DeviceOptions{})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "lut.db")
	a := tinyAgentArch()
	tl, err := pipeline.OpenTableLatency(path, latency.PredictorOptions{Remote: dev, Protocol: agentProtocol, Rounds: 1, Calibration: []*space.Arch{a}})
	require.NoError(t, err)
	defer tl.Close()
	require.Equal(t, board.ID(), tl.Device().ID())
	pred, err := tl.Predictor.Predict(context.Background(), a)
	require.NoError(t, err)
	require.Equal(t, len(a.Layers)+1, pred.MeasuredNow)
	require.Positive(t, pred.Ms)
	again, err := tl.Predictor.Predict(context.Background(), a)
	require.NoError(t, err)
	require.Zero(t, again.MeasuredNow)
	require.Equal(t, pred.Ms, again.Ms)
	ms, err := tl.MeasureMs(context.Background(), []*space.Arch{a}, 2)
	require.NoError(t, err)
	require.Positive(t, ms[0])
}

// TestDeviceRetriesOnStoppingAgent: a request an agent hands back as it
// stops (Retry) goes to another agent of the device.
func TestDeviceRetriesOnStoppingAgent(t *testing.T) {
	srv := natstest.Start(t)
	board := boardFingerprint("test board")
	startAgent(t, srv, &Agent{Device: "board", Name: "a1", Fingerprint: board})
	var handedBack int
	var mu sync.Mutex
	fakeAgent(t, srv, board, "board", "zz-stopping", func(m *nats.Msg) {
		mu.Lock()
		handedBack++
		mu.Unlock()
		_ = m.Respond([]byte(`{"v":1,"agent":"zz-stopping","device":"` + board.ID() + `","error":"agent zz-stopping stopped before it finished","retry":true}`))
	})
	dev, err := OpenDevice(context.Background(), agentConn(t, srv, "profile"), "", "board", DeviceOptions{})
	require.NoError(t, err)
	require.Equal(t, 2, dev.Concurrency())
	it, _, err := latency.ParseKey("conv_o4_k3_s2_arelu|3x8x8|b1")
	require.NoError(t, err)
	for range 2 {
		m, err := dev.MeasureItem(context.Background(), it, 1, agentProtocol)
		require.NoError(t, err)
		require.Positive(t, m.P10Ns)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 1, handedBack, "the stopping agent is asked once, then counted lost")
}
