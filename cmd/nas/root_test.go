package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

func runNas(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersionJSON(t *testing.T) {
	code, out, _ := runNas(t, "version", "--json")
	require.Equal(t, 0, code)
	var v versionInfo
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	require.Equal(t, runtime.GOARCH, v.GOARCH)
	require.Equal(t, runtime.Version(), v.GoVersion)
	require.Contains(t, []string{"avx512", "avx2", "neon", "generic"}, v.KernelPath)
}

func TestUsageErrors(t *testing.T) {
	code, _, errOut := runNas(t, "no-such-command")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "unknown command")
	code, _, _ = runNas(t, "version", "--bogus")
	require.Equal(t, exitUsage, code)
	code, _, _ = runNas(t, "version", "extra")
	require.Equal(t, exitUsage, code)
}

func TestHelp(t *testing.T) {
	code, out, _ := runNas(t, "--help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "version")
}
