package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"nas/space"
)

type zooListOptions struct {
	JSON bool
}

// zooListEntry is one row of `nas zoo list`.
type zooListEntry struct {
	Name   string    `json:"name"`
	Family string    `json:"family"`
	Widths []float64 `json:"widths,omitempty"`
	Input  [3]int    `json:"input"`
	Params int64     `json:"params"`
	MACs   int64     `json:"macs"`
}

func newCmdZoo() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "zoo",
		Short: "The reference networks (MobileNet, ShuffleNet, SqueezeNet, GhostNet, ...)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newCmdZooList(nil))
	return cmd
}

func newCmdZooList(runF func(*cobra.Command, *zooListOptions) error) *cobra.Command {
	opts := &zooListOptions{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the zoo networks with their params and MACs at 3x224x224, 1000 classes",
		Long: `List the zoo networks with their family, parameters and multiply-accumulates
at the default shape (3x224x224, 1000 classes, width 1.0). Run
'nas inspect NAME' for one network layer by layer.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return zooListRun(cmd, opts)
		},
	}
	addJSONFlag(cmd, &opts.JSON)
	return cmd
}

func zooListRun(cmd *cobra.Command, opts *zooListOptions) error {
	entries := []zooListEntry{}
	for _, e := range space.Zoo() {
		a, err := space.ZooArch(e.Name, space.ZooOptions{})
		if err != nil {
			return err
		}
		c, err := a.Cost()
		if err != nil {
			return fmt.Errorf("zoo network %s: %w", e.Name, err)
		}
		entries = append(entries, zooListEntry{Name: e.Name, Family: e.Family, Widths: e.Widths,
			Input: [3]int{a.Input.C, a.Input.H, a.Input.W}, Params: c.Params, MACs: c.MACs})
	}
	out := cmd.OutOrStdout()
	if opts.JSON {
		return writeJSON(out, entries)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tFAMILY\tPARAMS\tMACS")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, e.Family, groupDigits(e.Params), groupDigits(e.MACs))
	}
	return tw.Flush()
}
