package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"

	"nas/cluster"
)

type agentOptions struct {
	natsOptions
	Device  string
	Threads int
}

func newCmdAgent(runF func(*cobra.Command, *agentOptions) error) *cobra.Command {
	opts := &agentOptions{}
	cmd := &cobra.Command{
		Use:   "agent --nats URL --device NAME",
		Short: "Serve this device's latency measurements to profiles and searches on other machines",
		Long: `Run on the device a latency table is for (a board, a phone, a server:
the static binary of GOARCH=arm64 go build ./cmd/nas runs on an arm64
board as it is). The agent announces the device's fingerprint under NAME
on the NATS server and measures the blocks and networks that
'nas profile --nats URL --device NAME' and 'nas search --nats URL
--device NAME' ask for, one at a time, with the profiler's protocol: an
entry measured through it equals one 'nas profile' on the device stores,
and lands under the device's fingerprint in the table on the asking
machine. Agents of one fingerprint under one name share the work.
--threads is the thread count of the measurements (0: all cores), part of
the fingerprint; 'nas profile' makes tables at one thread by default.
Ctrl-C or SIGTERM stops it (see docs/distributed.md).`,
		Example: `  nas agent --nats nats://queue.lab:4222 --device rpi5 --threads 1
  nas agent --nats tls://queue.lab:4222 --creds lab.creds --tls-ca ca.pem --device rpi5 --threads 4`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.URL == "" {
				return usageErrorf("--nats URL is required (the server the profiles and searches use)")
			}
			if err := cluster.CheckDeviceName(opts.Device); err != nil {
				return usageErrorf("--device: %v", err)
			}
			if err := checkThreads(opts.Threads); err != nil {
				return err
			}
			if err := opts.natsOptions.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd, opts)
			}
			return agentRun(cmd, opts)
		},
	}
	opts.natsOptions.addFlags(cmd)
	addDeviceFlag(cmd, &opts.Device)
	addThreadsFlag(cmd, &opts.Threads)
	return cmd
}

func agentRun(cmd *cobra.Command, opts *agentOptions) error {
	// The plans run on threads threads; GOMAXPROCS stays as nas profile
	// leaves it, so that the agent measures as a profile on the device does.
	threads := opts.Threads
	if threads == 0 {
		threads = runtime.NumCPU()
	}
	a := &cluster.Agent{Device: opts.Device, Threads: threads, Log: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))}
	a.Fingerprint = cluster.AgentFingerprint(threads)
	fmt.Fprintf(cmd.OutOrStdout(), "agent for device %s: %s (%s)\n", opts.Device, a.Fingerprint.ID(), a.Fingerprint)
	ctx, stop := signal.NotifyContext(contextOf(cmd), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cluster.ServeAgent(ctx, opts.settings(""), a)
}
