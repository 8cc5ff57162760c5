package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"nas/pipeline"
)

// contextOf is cmd's context, or Background when it has none (tests
// executing a command directly).
func contextOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// sayer prints to out unless quiet.
func sayer(out io.Writer, quiet bool) func(format string, args ...any) {
	return func(format string, args ...any) {
		if !quiet {
			fmt.Fprintf(out, format, args...)
		}
	}
}

// writeJSON prints v as indented JSON.
func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// flagError turns a pipeline.SettingError into a usage error that names
// the flag of the setting: flags[setting], or the setting's name with
// dashes.
func flagError(err error, flags map[string]string) error {
	var se *pipeline.SettingError
	if !errors.As(err, &se) {
		return err
	}
	name, ok := flags[se.Setting]
	if !ok {
		name = strings.ReplaceAll(se.Setting, "_", "-")
	}
	return usageErrorf("--%s %v: %s", name, se.Value, se.Reason)
}
