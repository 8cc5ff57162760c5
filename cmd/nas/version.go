package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"nas/blocks/kernels"
)

type versionOptions struct {
	JSON bool
}

type versionInfo struct {
	Module        string `json:"module"`
	Version       string `json:"version"`
	GoVersion     string `json:"go_version"`
	GOOS          string `json:"goos"`
	GOARCH        string `json:"goarch"`
	KernelPath    string `json:"kernel_path"`
	KernelVersion int    `json:"kernel_version"`
}

func newCmdVersion(runF func(*cobra.Command, *versionOptions) error) *cobra.Command {
	opts := &versionOptions{}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of nas, Go, the architecture and the active kernel path",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return versionRun(cmd, opts)
		},
	}
	addJSONFlag(cmd, &opts.JSON)
	return cmd
}

func currentVersion() versionInfo {
	v := versionInfo{
		Module:        "nas",
		Version:       "(devel)",
		GoVersion:     runtime.Version(),
		GOOS:          runtime.GOOS,
		GOARCH:        runtime.GOARCH,
		KernelPath:    kernels.Path(),
		KernelVersion: kernels.Version,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.Module = bi.Main.Path
		if bi.Main.Version != "" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && v.Version == "(devel)" {
				v.Version = "(devel " + s.Value[:min(12, len(s.Value))] + ")"
			}
		}
	}
	return v
}

func versionRun(cmd *cobra.Command, opts *versionOptions) error {
	v := currentVersion()
	out := cmd.OutOrStdout()
	if opts.JSON {
		return writeJSON(out, v)
	}
	_, err := fmt.Fprint(out, v.text())
	return err
}

// text is what `nas version` and `nas --version` print.
func (v versionInfo) text() string {
	return fmt.Sprintf("%s %s\n%s %s/%s\nkernels: %s (version %d)\n", v.Module, v.Version, v.GoVersion, v.GOOS, v.GOARCH, v.KernelPath, v.KernelVersion)
}
