package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"nas/blocks"
	"nas/space"
)

type spaceShowOptions struct {
	Space string
	JSON  bool
}

// spaceSummary is what `nas space list` and `nas space show --json` print
// about a space.
type spaceSummary struct {
	Name             string          `json:"name"`
	Input            [3]int          `json:"input"`
	Classes          int             `json:"classes"`
	Stages           int             `json:"stages"`
	Cardinality      string          `json:"cardinality"` // exact, in decimal
	Log10Cardinality float64         `json:"log10_cardinality"`
	ValidNetworks    int64           `json:"valid_networks"` // capped at the int64 range
	MinMACs          int64           `json:"min_macs"`
	MaxMACs          int64           `json:"max_macs"`
	MinParams        int64           `json:"min_params"`
	MaxParams        int64           `json:"max_params"`
	Decisions        []decisionJSON  `json:"decisions,omitempty"`
	Space            json.RawMessage `json:"space,omitempty"`
}

type decisionJSON struct {
	Name    string   `json:"name"`
	Options []string `json:"options"`
}

func newCmdSpace() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "space",
		Short: "The search spaces: stages and their choices",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newCmdSpaceList(nil), newCmdSpaceShow(nil))
	return cmd
}

type spaceListOptions struct {
	JSON bool
}

func newCmdSpaceList(runF func(*cobra.Command, *spaceListOptions) error) *cobra.Command {
	opts := &spaceListOptions{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the built-in search spaces with their size and MACs range",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return spaceListRun(cmd, opts)
		},
	}
	addJSONFlag(cmd, &opts.JSON)
	return cmd
}

func newCmdSpaceShow(runF func(*cobra.Command, *spaceShowOptions) error) *cobra.Command {
	opts := &spaceShowOptions{}
	cmd := &cobra.Command{
		Use:   "show SPACE",
		Short: "Show a space: its stages, choices, size and exact MACs and params range",
		Long: `Show a search space: the fixed stem and head, each stage's stride and
choices, the number of distinct networks, and the exact least and greatest
MACs and params over them (computed stage by stage, not sampled).

SPACE is a built-in space (see 'nas space list') or a path to a space JSON
file (docs/space-format.md).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Space = args[0]
			if runF != nil {
				return runF(cmd, opts)
			}
			return spaceShowRun(cmd, opts)
		},
	}
	addJSONFlag(cmd, &opts.JSON)
	return cmd
}

func summarize(s *space.Space) (spaceSummary, error) {
	r, err := s.CostRange()
	if err != nil {
		return spaceSummary{}, fmt.Errorf("space %s: %w", s.Name, err)
	}
	return spaceSummary{
		Name: s.Name, Input: [3]int{s.Input.C, s.Input.H, s.Input.W}, Classes: s.Classes, Stages: len(s.Stages),
		Cardinality: s.Cardinality().String(), Log10Cardinality: s.Log10Cardinality(), ValidNetworks: r.Networks,
		MinMACs: r.MinMACs, MaxMACs: r.MaxMACs, MinParams: r.MinParams, MaxParams: r.MaxParams,
	}, nil
}

func spaceListRun(cmd *cobra.Command, opts *spaceListOptions) error {
	sums := []spaceSummary{}
	for _, name := range space.SpaceNames() {
		s, err := space.LoadSpace(name)
		if err != nil {
			return err
		}
		sum, err := summarize(s)
		if err != nil {
			return err
		}
		sums = append(sums, sum)
	}
	if opts.JSON {
		return writeJSON(cmd.OutOrStdout(), sums)
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tINPUT\tCLASSES\tSTAGES\tNETWORKS\tMACS")
	for _, sum := range sums {
		name := sum.Name
		fmt.Fprintf(tw, "%s\t%dx%dx%d\t%d\t%d\t%s\t%s - %s\n", name, sum.Input[0], sum.Input[1], sum.Input[2], sum.Classes, sum.Stages,
			sizeString(sum), groupDigits(sum.MinMACs), groupDigits(sum.MaxMACs))
	}
	return tw.Flush()
}

// sizeString is the cardinality, exact when short.
func sizeString(s spaceSummary) string {
	if len(s.Cardinality) <= 7 {
		return s.Cardinality
	}
	return fmt.Sprintf("10^%.1f", s.Log10Cardinality)
}

func spaceShowRun(cmd *cobra.Command, opts *spaceShowOptions) error {
	s, err := space.LoadSpace(opts.Space)
	if err != nil {
		return err
	}
	sum, err := summarize(s)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if opts.JSON {
		for _, d := range s.Decisions() {
			sum.Decisions = append(sum.Decisions, decisionJSON(d))
		}
		if sum.Space, err = s.MarshalJSON(); err != nil {
			return err
		}
		return writeJSON(out, sum)
	}
	fmt.Fprintf(out, "space %s: input %dx%dx%d, %d classes, %d stages\n", s.Name, sum.Input[0], sum.Input[1], sum.Input[2], s.Classes, len(s.Stages))
	fmt.Fprintf(out, "networks: %s (10^%.2f); %s of them fit their input\n", sum.Cardinality, sum.Log10Cardinality, validString(sum))
	fmt.Fprintf(out, "MACs:   %s to %s (exact)\n", groupDigits(sum.MinMACs), groupDigits(sum.MaxMACs))
	fmt.Fprintf(out, "params: %s to %s (exact)\n\n", groupDigits(sum.MinParams), groupDigits(sum.MaxParams))
	fmt.Fprintf(out, "stem: %s\n\n", layerList(s.Stem))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGE\tSTRIDE\tBLOCKS\tKERNELS\tEXPANSIONS\tSE\tACTS\tWIDTHS\tDEPTHS")
	decisions := s.Decisions()
	perStage := len(decisions) / len(s.Stages) // block, kernel, expansion, se, act, width, depth
	for i, st := range s.Stages {
		opts := func(d int) string { return strings.Join(decisions[i*perStage+d].Options, ",") }
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i, st.Stride, opts(0), opts(1), opts(2), opts(3), opts(4), opts(5), opts(6))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nhead: %s (the last layer's outputs are the classes)\n", layerList(s.Head))
	return nil
}

func validString(s spaceSummary) string {
	if fmt.Sprint(s.ValidNetworks) == s.Cardinality {
		return "all"
	}
	return groupDigits(s.ValidNetworks)
}

func layerList(ls []blocks.Spec) string {
	var parts []string
	for _, l := range ls {
		parts = append(parts, space.BlockString(l))
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, " | ")
}
