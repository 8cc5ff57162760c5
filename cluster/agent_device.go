package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"nas/latency"
	"nas/space"
)

// ErrNoAgent is a device no agent answers for: none was started, all
// stopped, or none reaches the server. The error wrapping it names the
// device and the command that serves it.
var ErrNoAgent = errors.New("no agent answers for the device")

// DeviceOptions tune a Device. Zero means default.
type DeviceOptions struct {
	// Timeout bounds one measurement request (default 2 minutes: a whole
	// network's measurement on a slow board, with the blocks inside it).
	Timeout time.Duration
	// Discover is how long a hello waits for the device's agents to
	// answer (default 300 ms).
	Discover time.Duration
	// Log receives a line per agent lost.
	Log *slog.Logger
}

// Device is a device served by agents (`nas agent`), measured from this
// process: a latency.RemoteDevice. It deals measurements out to the
// device's agents, one request in flight per agent, so that agents of one
// fingerprint share the work and an idle agent always gets the next one.
// An agent that does not answer (gone, or past Timeout) loses its request
// to another; when none is left the request fails with ErrNoAgent.
type Device struct {
	nc    *nats.Conn
	names Names
	name  string
	fp    latency.Fingerprint
	o     DeviceOptions
	url   string // for the fix in errors

	mu    sync.Mutex
	freed *sync.Cond
	idle  []string // agents with no request in flight
	live  int      // agents not lost: idle and busy
	n     int      // agents found by the last discovery
}

// OpenDevice reads the announcement of device name in project and finds
// its agents. It fails with ErrNoAgent, naming the command that starts
// one, when the device was never announced or no agent of it answers.
func OpenDevice(ctx context.Context, nc *nats.Conn, project, name string, o DeviceOptions) (*Device, error) {
	if err := CheckDeviceName(name); err != nil {
		return nil, err
	}
	names, err := NewNames(project)
	if err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Discover <= 0 {
		o.Discover = 300 * time.Millisecond
	}
	d := &Device{nc: nc, names: names, name: name, o: o, url: nc.ConnectedUrlRedacted()}
	d.freed = sync.NewCond(&d.mu)
	kv, err := devicesBucket(ctx, nc, names, false)
	var e jetstream.KeyValueEntry
	if err == nil {
		e, err = kv.Get(ctx, name)
	}
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, fmt.Errorf("device %s: %w: no agent has announced it in project %s: start `%s` on the device", name, ErrNoAgent, names.Project(), d.fix())
	case err != nil:
		return nil, fmt.Errorf("device %s: %w", name, err)
	}
	ann, err := decodeAnnouncement(e.Value())
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", name, err)
	}
	d.fp = ann.Fingerprint
	if err := d.rediscover(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// fix is the command that serves the device.
func (d *Device) fix() string {
	cmd := "nas agent --nats " + d.url + " --device " + d.name
	if d.names.Project() != DefaultProject {
		cmd += " --project " + d.names.Project()
	}
	if d.fp.Threads > 1 {
		cmd += fmt.Sprintf(" --threads %d", d.fp.Threads)
	}
	return cmd
}

// Name is the device's name.
func (d *Device) Name() string { return d.name }

// Fingerprint is the device's, as its agent announced it.
func (d *Device) Fingerprint() latency.Fingerprint { return d.fp }

// Concurrency is the number of agents found: the measurements a profile
// keeps in flight.
func (d *Device) Concurrency() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return max(d.n, 1)
}

// discover sends a hello to the agents of fingerprint fp and collects the
// names of those that answer within wait.
func discover(ctx context.Context, nc *nats.Conn, names Names, fp string, wait time.Duration) ([]string, error) {
	inbox := nc.NewRespInbox()
	replies := make(chan *nats.Msg, 256)
	sub, err := nc.ChanSubscribe(inbox, replies)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest(names.HelloSubject(fp), inbox, nil); err != nil {
		return nil, err
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var agents []string
	for {
		select {
		case m := <-replies:
			h, err := decodeHello(m.Data)
			if err == nil && h.Device == fp && !slices.Contains(agents, h.Agent) {
				agents = append(agents, h.Agent)
			}
		case <-timer.C:
			slices.Sort(agents)
			return agents, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// rediscover finds the device's agents anew; d.mu must not be held.
func (d *Device) rediscover(ctx context.Context) error {
	agents, err := discover(ctx, d.nc, d.names, d.fp.ID(), d.o.Discover)
	if err != nil {
		return fmt.Errorf("device %s (%s): %w", d.name, d.fp.ID(), err)
	}
	if len(agents) == 0 {
		return fmt.Errorf("device %s (%s): %w within %v: start `%s` on the device, or check that its agent reaches the server",
			d.name, d.fp.ID(), ErrNoAgent, d.o.Discover, d.fix())
	}
	d.mu.Lock()
	d.idle, d.live, d.n = agents, len(agents), len(agents)
	d.freed.Broadcast()
	d.mu.Unlock()
	return nil
}

// acquire takes an idle agent, waiting while all are busy, and finds the
// agents anew when all are lost.
func (d *Device) acquire(ctx context.Context) (string, error) {
	d.mu.Lock()
	for {
		if err := ctx.Err(); err != nil {
			d.mu.Unlock()
			return "", err
		}
		if len(d.idle) > 0 {
			a := d.idle[len(d.idle)-1]
			d.idle = d.idle[:len(d.idle)-1]
			d.mu.Unlock()
			return a, nil
		}
		if d.live == 0 {
			d.live = -1 // this goroutine discovers; others wait for it
			d.mu.Unlock()
			if err := d.rediscover(ctx); err != nil {
				d.mu.Lock()
				d.live = 0
				d.freed.Broadcast()
				d.mu.Unlock()
				return "", err
			}
			d.mu.Lock()
			continue
		}
		d.freed.Wait()
	}
}

// release gives an agent back, or counts it lost.
func (d *Device) release(agent string, lost bool) {
	d.mu.Lock()
	if lost {
		d.live--
	} else {
		d.idle = append(d.idle, agent)
	}
	d.freed.Broadcast()
	d.mu.Unlock()
}

// request sends req to an agent of the device and returns its reply,
// trying other agents while agents are lost.
func (d *Device) request(ctx context.Context, req MeasureRequest) (*MeasureReply, error) {
	req.Version, req.Device = deviceMessage, d.fp.ID()
	b, err := encodeDevice(req, MaxMeasureRequestBytes)
	if err != nil {
		return nil, err
	}
	var lastLoss error
	for range 4 {
		agent, err := d.acquire(ctx)
		if err != nil {
			if lastLoss != nil && errors.Is(err, ErrNoAgent) {
				err = fmt.Errorf("%w (last: %v)", err, lastLoss)
			}
			return nil, err
		}
		rctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
		msg, err := d.nc.RequestWithContext(rctx, d.names.AgentSubject(d.fp.ID(), agent), b)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				d.release(agent, false)
				return nil, ctx.Err()
			}
			what := err.Error()
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
				what = fmt.Sprintf("no answer within %v", d.o.Timeout)
			}
			lastLoss = fmt.Errorf("agent %s: %s", agent, what)
			if d.o.Log != nil {
				d.o.Log.Warn("agent lost", "device", d.name, "agent", agent, "err", what)
			}
			d.release(agent, true)
			continue
		}
		if len(msg.Data) > MaxMeasureReplyBytes {
			d.release(agent, false)
			return nil, fmt.Errorf("device %s (%s): agent %s: %w: reply of %d bytes, limit %d", d.name, d.fp.ID(), agent, ErrMalformed, len(msg.Data), MaxMeasureReplyBytes)
		}
		rep, err := DecodeMeasureReply(msg.Data)
		if err == nil && rep.Retry {
			lastLoss = fmt.Errorf("agent %s: %s", agent, rep.Error)
			d.release(agent, true)
			continue
		}
		d.release(agent, false)
		if err != nil {
			return nil, fmt.Errorf("device %s (%s): agent %s: %w", d.name, d.fp.ID(), agent, err)
		}
		if rep.Device != d.fp.ID() {
			return nil, fmt.Errorf("device %s (%s): agent %s: %w: it measured device %s", d.name, d.fp.ID(), agent, ErrMalformed, rep.Device)
		}
		if rep.Error != "" {
			return nil, fmt.Errorf("device %s (%s): agent %s: %s", d.name, d.fp.ID(), agent, rep.Error)
		}
		return rep, nil
	}
	return nil, fmt.Errorf("device %s (%s): %w: agents keep failing (last: %v): check `%s` on the device", d.name, d.fp.ID(), ErrNoAgent, lastLoss, d.fix())
}

// MeasureItem measures it on the device (latency.Measurer).
func (d *Device) MeasureItem(ctx context.Context, it latency.Item, batch int, p latency.Protocol) (latency.Measurement, error) {
	if _, b, err := latency.ParseKey(it.Key); err != nil || b != batch {
		return latency.Measurement{}, fmt.Errorf("device %s: item %q cannot be sent at batch %d: %v", d.name, it.Key, batch, err)
	}
	rep, err := d.request(ctx, MeasureRequest{Key: it.Key, Protocol: wireProtocol(p)})
	if err != nil {
		return latency.Measurement{}, err
	}
	return rep.measurement(), nil
}

// MeasureNetwork measures a on the device (latency.Measurer).
func (d *Device) MeasureNetwork(ctx context.Context, a *space.Arch, batch int, p latency.Protocol, inside bool) (latency.Measurement, []float64, error) {
	rep, err := d.request(ctx, MeasureRequest{Arch: a.String(), Batch: batch, Inside: inside, Protocol: wireProtocol(p)})
	if err != nil {
		return latency.Measurement{}, nil, err
	}
	return rep.measurement(), rep.Inside, nil
}

// DialDevice connects to the server of s and opens device name there
// (OpenDevice); close ends the connection.
func DialDevice(ctx context.Context, s Settings, name string, o DeviceOptions) (d *Device, close func(), err error) {
	nc, err := Connect(s)
	if err != nil {
		return nil, nil, err
	}
	if d, err = OpenDevice(ctx, nc, s.Project, name, o); err != nil {
		nc.Close()
		return nil, nil, err
	}
	return d, nc.Close, nil
}
