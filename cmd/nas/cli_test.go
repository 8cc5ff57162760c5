package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

// vocabRow is a row of the flag table of docs/cli.md.
type vocabRow struct {
	name, shorthand, typ, def, usage string
	commands                         []string
}

// readVocabulary reads the tables of docs/cli.md: the shared flags, and
// the renamed ones (old name -> the commands that still accept it).
func readVocabulary(t *testing.T) (map[string]vocabRow, map[string][]string) {
	t.Helper()
	b, err := os.ReadFile("../../docs/cli.md")
	require.NoError(t, err)
	rows := map[string]vocabRow{}
	renamed := map[string][]string{}
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "## ") {
			section = line
			continue
		}
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch section {
		case "## The shared flags":
			require.Len(t, cells, 5, line)
			r := vocabRow{typ: cells[1], def: strings.Trim(cells[2], "`"), usage: cells[3], commands: splitList(cells[4])}
			flag := strings.Trim(cells[0], "`")
			if short, long, ok := strings.Cut(flag, ", "); ok {
				r.shorthand, flag = strings.TrimPrefix(short, "-"), long
			}
			r.name = strings.TrimPrefix(flag, "--")
			if r.def == `""` {
				r.def = ""
			}
			rows[r.name] = r
		case "## Renamed flags":
			old := strings.TrimPrefix(strings.Fields(strings.Trim(cells[0], "`"))[0], "--")
			renamed[old] = append(renamed[old], splitList(cells[2])...)
		}
	}
	require.NotEmpty(t, rows)
	return rows, renamed
}

// splitList reads "a, b c, d (note)" as [a, b c, d].
func splitList(s string) []string {
	s, _, _ = strings.Cut(s, " (")
	var out []string
	for _, p := range strings.Split(s, ", ") {
		out = append(out, strings.TrimSpace(p))
	}
	return out
}

// commandFlags lists every command's own flags by command path ("nas" for
// the root, "latency validate" for a subcommand).
func commandFlags() map[string][]*pflag.Flag {
	out := map[string][]*pflag.Flag{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		path := strings.TrimPrefix(c.CommandPath(), "nas ")
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Name != "help" {
				out[path] = append(out[path], f)
			}
		})
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRootCmd())
	return out
}

// Every command follows the vocabulary of docs/cli.md: a flag of the table
// has its type, default and help text wherever it appears, and is taken by
// the commands the table names; a name two commands take is in the table;
// a deprecated name is listed as renamed.
func TestFlagVocabulary(t *testing.T) {
	rows, renamed := readVocabulary(t)
	users := map[string][]string{}
	for path, flags := range commandFlags() {
		for _, f := range flags {
			if f.Deprecated != "" {
				require.Contains(t, renamed[f.Name], path, "%s: --%s is deprecated but not in the renamed table of docs/cli.md", path, f.Name)
				continue
			}
			users[f.Name] = append(users[f.Name], path)
			r, ok := rows[f.Name]
			if !ok {
				continue
			}
			if r.typ != "per command" {
				require.Equal(t, r.typ, f.Value.Type(), "%s --%s: type", path, f.Name)
			}
			if r.def != "per command" {
				require.Equal(t, r.def, f.DefValue, "%s --%s: default", path, f.Name)
				require.Equal(t, r.usage, f.Usage, "%s --%s: help text", path, f.Name)
			}
			require.Equal(t, r.shorthand, f.Shorthand, "%s --%s: shorthand", path, f.Name)
		}
	}
	for name, paths := range users {
		r, ok := rows[name]
		if !ok {
			require.Len(t, paths, 1, "--%s is taken by %v: a name several commands take belongs in the table of docs/cli.md", name, paths)
			continue
		}
		slices.Sort(paths)
		want := slices.Clone(r.commands)
		slices.Sort(want)
		require.Equal(t, want, paths, "--%s: the commands that take it", name)
	}
	for name := range rows {
		require.Contains(t, users, name, "docs/cli.md lists --%s, which no command takes", name)
	}
}

func TestVersionFlag(t *testing.T) {
	code, out, _ := runNas(t, "--version")
	require.Equal(t, 0, code)
	require.Equal(t, currentVersion().text(), out)
}

// The renamed flags still work, with a notice.
func TestDeprecatedFlags(t *testing.T) {
	var got *exportOptions
	cmd := newCmdExport(func(_ *cobra.Command, o *exportOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"mobilenet_v2", "--format", "onnx", "--output", "m.onnx"})
	var errb strings.Builder
	cmd.SetErr(&errb)
	cmd.SetOut(&errb)
	require.NoError(t, cmd.Execute())
	require.Equal(t, "m.onnx", got.Output)
	require.Contains(t, errb.String(), "--output has been deprecated, use --out")
}

// A deprecated name and the flag it stands for, given together, are
// refused: whichever came last would silently win.
func TestAliasWithItsFlagRefused(t *testing.T) {
	for _, args := range [][]string{
		{"profile", "--threads", "1", "--lut-threads", "2", "mobilenet_v3_small"},
		{"train", "convnet28", "--out", "x", "--warmup", "1", "--warmup-epochs", "2"},
		{"train", "convnet28", "--out", "x", "--steps", "3", "--epochs", "1"},
	} {
		code, _, errOut := runNas(t, args...)
		require.Equal(t, exitUsage, code, "%v", args)
		require.Contains(t, errOut, "cannot be given together", "%v", args)
	}
}
