package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"nas/cluster"
	"nas/internal/progress"
	"nas/latency"
	"nas/pipeline"
	"nas/space"
)

// protocolFlags are the measurement settings shared by profile, latency
// --measure and latency validate. Zero means the protocol's default.
type protocolFlags struct {
	Warmup    time.Duration
	Cap       time.Duration
	Tolerance float64
	Clock     string
	NoProbe   bool
}

func (p *protocolFlags) AddFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&p.Warmup, "warmup", 0, "warm-up time before each measurement (default 20ms)")
	fs.DurationVar(&p.Cap, "cap", 0, "time cap of one measurement's sampling (default 250ms)")
	fs.Float64Var(&p.Tolerance, "tolerance", 0, "stop sampling when the median's 95% interval is within ±this fraction (default 0.01)")
	fs.StringVar(&p.Clock, "clock", "", "what to time: wall or thread-cpu (default thread-cpu for one thread on Linux, wall otherwise)")
	fs.BoolVar(&p.NoProbe, "no-probe", false, "keep samples taken while the probe around them ran slow (another tenant sharing the core)")
}

func (p *protocolFlags) protocol() (latency.Protocol, error) {
	if p.Warmup < 0 || p.Cap < 0 || p.Tolerance < 0 || p.Tolerance >= 1 {
		return latency.Protocol{}, usageErrorf("--warmup, --cap and --tolerance must not be negative, and --tolerance below 1")
	}
	c := latency.Clock(p.Clock)
	switch c {
	case "", latency.ClockWall, latency.ClockThreadCPU:
	default:
		return latency.Protocol{}, usageErrorf("--clock %q: want %s or %s", p.Clock, latency.ClockWall, latency.ClockThreadCPU)
	}
	return latency.Protocol{WarmupTime: p.Warmup, MaxTime: p.Cap, Tolerance: p.Tolerance, Clock: c, NoProbe: p.NoProbe}, nil
}

// compiler is what every command times networks and blocks with: the
// inference plan, blocks.Plan.
func compiler() latency.Compiler { return latency.PlanCompiler(1) }

type profileOptions struct {
	LUT       string
	Space     string
	Refs      []string
	Batch     int
	Threads   int // of the fingerprint; 0: the table's
	AddDevice bool
	Quiet     bool
	JSON      bool
	Calibrate int
	Recal     bool
	Rounds    int
	Zoo       zooFlags
	Protocol  protocolFlags
	NATS      natsOptions
	Device    string // with NATS: the agent's device measured
}

func newCmdProfile(runF func(*cobra.Command, *profileOptions) error) *cobra.Command {
	opts := &profileOptions{}
	cmd := &cobra.Command{
		Use:   "profile (--space SPACE | ARCH...)",
		Short: "Measure every block of a search space or of networks into a latency table",
		Long: `Measure, on this machine, every distinct block configuration (with its
input shape) that networks of a search space, or the given networks, contain,
and the network-level overhead, and store each in the latency table FILE as
soon as it is measured. An interrupted run (Ctrl-C, kill -9, power loss)
loses at most the entry being measured: run the same command again and it
continues where it stopped.

Run it on the device the table is for; copy the nas binary there first
(README: "Profiling on another device"), or run 'nas agent --device NAME'
there and profile from here with --nats URL --device NAME: the device
measures, and its entries land in FILE under its fingerprint. The thread
count is part of the device's fingerprint: a table profiled with
--lut-threads 2 holds the device at two threads, which the commands that
read it pick up (an agent's is its --threads).
docs/latency.md describes the measurement protocol.

ARCH is anything 'nas inspect' accepts: a zoo name (shaped by --input,
--classes and --width), an arch JSON file or an arch string.`,
		Example: `  nas profile --lut lut.db --space small28
  nas profile --lut lut.db --space small28 --recalibrate
  nas profile --lut lut.db --lut-threads 2 mobilenet_v2 shufflenet_v2_x1_0
  nas profile --lut lut.db --input 1x28x28 --classes 10 mobilenet_v3_small
  nas profile --lut rpi5.db --space small28 --nats nats://queue.lab:4222 --device rpi5`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Refs = args
			switch {
			case opts.LUT == "":
				return usageErrorf("--lut FILE must not be empty")
			case opts.Space == "" && len(args) == 0:
				return usageErrorf("give --space SPACE or one or more networks (ARCH...)")
			case opts.Space != "" && len(args) > 0:
				return usageErrorf("give --space or networks, not both")
			case opts.Batch < 1:
				return usageErrorf("--batch %d: must be at least 1", opts.Batch)
			case opts.Threads < 0:
				return checkLUTThreads(opts.Threads)
			case opts.Calibrate < 0:
				return usageErrorf("--calibrate %d: must not be negative", opts.Calibrate)
			case opts.Rounds < 1:
				return usageErrorf("--rounds %d: must be at least 1", opts.Rounds)
			}
			if err := opts.checkDevice(cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd, opts)
			}
			return profileRun(cmd, opts)
		},
	}
	f := cmd.Flags()
	addLUTFlag(cmd, &opts.LUT)
	addSpaceFlag(cmd, &opts.Space)
	f.IntVar(&opts.Batch, "batch", 1, "batch size to measure at")
	addLUTThreadsFlag(cmd, &opts.Threads)
	f.BoolVar(&opts.AddDevice, "add-device", false, "add this machine to a table that holds other devices")
	addQuietFlag(cmd, &opts.Quiet)
	addJSONFlag(cmd, &opts.JSON)
	f.IntVar(&opts.Calibrate, "calibrate", pipeline.DefaultCalibrate, "with --space: networks sampled (seed 1, a stream validation does not use) to calibrate the network-level overhead on")
	f.BoolVar(&opts.Recal, "recalibrate", false, "measure the calibration networks again and refit the overhead (beta, scale), measuring no block the table has: a table brought to the device's present state (see 'nas latency validate', drift_pct)")
	opts.Zoo.addFlags(cmd)
	addRoundsFlag(cmd, &opts.Rounds)
	opts.Protocol.AddFlags(f)
	opts.NATS.addFlags(cmd)
	addDeviceFlag(cmd, &opts.Device)
	return cmd
}

// checkDevice refuses --device without --nats (a profile measures this
// machine, or an agent's device), and the other way round.
func (o *profileOptions) checkDevice(cmd *cobra.Command) error {
	switch {
	case o.NATS.URL == "" && o.Device != "":
		return usageErrorf("--device %s needs --nats URL: a profile measures this machine, or the device of a 'nas agent' on that server", o.Device)
	case o.NATS.URL != "" && o.Device == "":
		return usageErrorf("--nats needs --device NAME: the device whose agent measures ('nas agent --device NAME')")
	case o.NATS.URL != "" && cmd.Flags().Changed("lut-threads"):
		return usageErrorf("--lut-threads with --nats: the agent's --threads is the device's thread count")
	}
	if o.Device != "" {
		if err := cluster.CheckDeviceName(o.Device); err != nil {
			return usageErrorf("--device: %v", err)
		}
	}
	return o.NATS.check()
}

// openProfileTable opens the table the profile fills: this machine's at
// its thread count, or, with --nats, the agent's device's, measured there
// (the measurer; nil for this machine). close releases the connection.
func openProfileTable(ctx context.Context, opts *profileOptions) (tbl *latency.Table, m latency.Measurer, threads int, close func(), err error) {
	if opts.NATS.URL == "" {
		if threads = opts.Threads; threads == 0 {
			if threads, err = latency.TableThreads(opts.LUT); err != nil {
				return nil, nil, 0, nil, lutThreadsError(err)
			}
		}
		tbl, err = latency.Open(opts.LUT, latency.CurrentFingerprint(threads), latency.Options{AddDevice: opts.AddDevice})
		return tbl, nil, threads, func() {}, err
	}
	dev, closeNATS, err := cluster.DialDevice(ctx, opts.NATS.settings("nas profile"), opts.Device, cluster.DeviceOptions{})
	if err != nil {
		return nil, nil, 0, nil, err
	}
	if tbl, err = latency.OpenRemote(opts.LUT, dev.Fingerprint(), latency.Options{AddDevice: opts.AddDevice}); err != nil {
		closeNATS()
		return nil, nil, 0, nil, err
	}
	return tbl, dev, dev.Fingerprint().Threads, closeNATS, nil
}

// profileItems lists what opts asks to profile, and the networks to
// calibrate the overhead on: networks sampled from the space, or the
// networks given.
func profileItems(opts *profileOptions) ([]latency.Item, []*space.Arch, error) {
	if opts.Space != "" {
		s, err := space.LoadSpace(opts.Space)
		if err != nil {
			return nil, nil, err
		}
		layers, err := s.Layers()
		if err != nil {
			return nil, nil, err
		}
		items, err := latency.LayerItems(layers, s.Input, opts.Batch)
		if err != nil {
			return nil, nil, err
		}
		calib, err := pipeline.SpaceCalibration(s, opts.Calibrate)
		if err != nil {
			return nil, nil, err
		}
		return items, calib, nil
	}
	archs := make([]*space.Arch, 0, len(opts.Refs))
	for _, ref := range opts.Refs {
		a, err := opts.Zoo.resolve(ref)
		if err != nil {
			return nil, nil, err
		}
		archs = append(archs, a)
	}
	items, err := latency.DistinctItems(archs, opts.Batch)
	return items, archs, err
}

// profileJSON is the --json output of `nas profile`.
type profileJSON struct {
	LUT         string  `json:"lut"`
	Device      string  `json:"device"`
	Threads     int     `json:"threads"`
	Entries     int     `json:"entries"`
	Rounds      int     `json:"rounds"`
	Measured    int     `json:"measured"` // measurements taken now
	Present     int     `json:"present"`  // measurements the table had
	WallSeconds float64 `json:"wall_s"`
}

func profileRun(cmd *cobra.Command, opts *profileOptions) error {
	proto, err := opts.Protocol.protocol()
	if err != nil {
		return err
	}
	items, calib, err := profileItems(opts)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(contextOf(cmd), os.Interrupt)
	defer stop()
	tbl, measurer, threads, closeNATS, err := openProfileTable(ctx, opts)
	if err != nil {
		return err
	}
	defer closeNATS()
	defer tbl.Close()
	var bar *progress.Bar
	p := &latency.Profiler{Table: tbl, Compile: compiler(), Measurer: measurer, Protocol: proto, Batch: opts.Batch, Threads: threads, Calibration: calib, Rounds: opts.Rounds, Recalibrate: opts.Recal,
		Progress: func(done, total int) {
			if bar == nil {
				bar = progress.New(cmd.ErrOrStderr(), "profile", "measurements", total, done, opts.Quiet || opts.JSON)
				return
			}
			bar.Add(1)
		}}
	st, err := p.Profile(ctx, items)
	if bar != nil {
		bar.Finish()
	}
	out := cmd.OutOrStdout()
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(out, "interrupted: %d of %d entries stored; run the same command to continue\n", st.Present+st.Measured, st.Total)
		}
		return err
	}
	if opts.JSON {
		return writeJSON(out, profileJSON{LUT: opts.LUT, Device: tbl.Device().ID(), Threads: threads, Entries: st.Total / opts.Rounds,
			Rounds: opts.Rounds, Measured: st.Measured, Present: st.Present, WallSeconds: st.Elapsed.Seconds()})
	}
	fmt.Fprintf(out, "%s: device %s (%s)\n", opts.LUT, tbl.Device().ID(), tbl.Device())
	fmt.Fprintf(out, "%d entries, %d rounds: %d measurements now in %s, %d already present\n", st.Total/opts.Rounds, opts.Rounds, st.Measured, st.Elapsed.Round(time.Millisecond), st.Present)
	return nil
}

// lutThreadsError says which flag names the thread count.
func lutThreadsError(err error) error {
	var te *latency.ThreadsError
	if errors.As(err, &te) {
		return usageErrorf("%v: give --lut-threads N", err)
	}
	return err
}

// shellQuote quotes an argument for a shell command line when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " |'\"$\\*?;&<>()[]{}~#!`\t\n") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
