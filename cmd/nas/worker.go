package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"nas/cluster"
	"nas/pipeline"
)

type workerOptions struct {
	natsOptions
	dataOptions
	Threads int
	Name    string
}

func newCmdWorker(runF func(*cobra.Command, *workerOptions) error) *cobra.Command {
	opts := &workerOptions{}
	cmd := &cobra.Command{
		Use:   "worker --nats URL",
		Short: "Run training, scoring and fine-tuning tasks for coordinators on other machines",
		Long: `Take tasks from a NATS JetStream server and run them until interrupted:
a supernet search's scoring of candidates, search trials' proxy training,
final trainings, NetAdapt fine-tunes. The worker serves one dataset
(--data, --data-dir) and refuses tasks whose dataset files differ from its
own, naming both. A supernet comes from the server's object store once and
is kept, under the hashes of its files, in nas-supernets under the
temporary folder ($TMPDIR); the worker keeps the four supernets used last
there and removes older ones (never one in use, nor one used in the last
ten minutes). Ctrl-C or SIGTERM hands the running task back to the queue.`,
		Example: `  nas worker --nats nats://queue.lab:4222 --threads 1
  nas worker --nats tls://queue.lab:4222 --creds lab.creds --tls-ca ca.pem --name gpu-box-2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.URL == "" {
				return usageErrorf("--nats URL is required (the server the coordinator publishes to)")
			}
			if err := opts.dataOptions.check(); err != nil {
				return err
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
			return workerRun(cmd, opts)
		},
	}
	opts.natsOptions.addFlags(cmd)
	opts.dataOptions.addFlags(cmd)
	addThreadsFlag(cmd, &opts.Threads)
	cmd.Flags().StringVar(&opts.Name, "name", "", "the worker's name in results and logs (default: host name and process ID)")
	return cmd
}

func workerRun(cmd *cobra.Command, opts *workerOptions) error {
	name := opts.Name
	if name == "" {
		host, _ := os.Hostname()
		name = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	local := pipeline.Dataset{Name: opts.Data, Dir: opts.DataDir}
	dir, err := cluster.DatasetDir(local)
	if err != nil {
		return err
	}
	local.Dir = dir
	data := &pipeline.Datasets{}
	if _, err := data.Open(local); err != nil {
		return err
	}
	id, err := cluster.HashDataset(opts.Data, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "worker %s: dataset %v\n", name, id)
	ctx, stop := signal.NotifyContext(contextOf(cmd), os.Interrupt, syscall.SIGTERM)
	defer stop()
	w := &cluster.Worker{Name: name, Tasks: cluster.PipelineTasks(data, local, opts.Threads), Dataset: &id,
		Log: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))}
	return cluster.Serve(ctx, opts.settings(name), w)
}
