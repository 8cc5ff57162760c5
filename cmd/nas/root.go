package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes, mapped in one place.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed (bad file, failed run)
	exitUsage = 2 // the command line itself is wrong
)

// usageError marks errors in how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// newRootCmd builds the command tree. Each subcommand lives in its own file.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "nas",
		Short: "Hardware-aware neural architecture search for lightweight CNNs",
		Long: `nas searches a space of lightweight-CNN blocks (MBConv, Fire, ShuffleNet,
Ghost, ...) for the network with the best accuracy/latency trade-off on the
device it runs on, using latency tables measured on that device and accuracy
from real training.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       currentVersion().Version,
	}
	root.SetVersionTemplate(currentVersion().text())
	root.Flags().Bool("version", false, "the version of nas (as `nas version`)")
	var logFormat string
	addLogFormatFlag(root, &logFormat)
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := refuseAliasTogether(cmd); err != nil {
			return err
		}
		return checkLogFormat(logFormat)
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{err}
	})
	root.AddCommand(newCmdVersion(nil))
	root.AddCommand(newCmdInspect(nil))
	root.AddCommand(newCmdZoo())
	root.AddCommand(newCmdSpace())
	root.AddCommand(newCmdLut())
	root.AddCommand(newCmdExport(nil))
	root.AddCommand(newCmdReport(nil))
	root.AddCommand(newCmdProfile(nil))
	root.AddCommand(newCmdLatency(nil, nil))
	root.AddCommand(newCmdTrain(nil))
	root.AddCommand(newCmdEval(nil))
	root.AddCommand(newCmdSearch(nil))
	root.AddCommand(newCmdInfer(nil))
	root.AddCommand(newCmdNetAdapt(nil))
	root.AddCommand(newCmdImport(nil))
	root.AddCommand(newCmdSupernet())
	root.AddCommand(newCmdWorker(nil))
	root.AddCommand(newCmdAgent(nil))
	addCompletions(root)
	return root
}

// run executes the command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "nas:", err)
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return exitUsage
	}
	return exitError
}

// isCobraUsage recognises cobra's own argument errors (unknown command,
// wrong number of arguments), which it does not type.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "requires at most", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
