package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"nas/cluster"
	"nas/internal/crashtest"
	"nas/internal/natstest"
	"nas/latency"
	"nas/pipeline"
	"nas/results"
	"nas/space"
)

func TestAgentUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"agent", "--device", "b"}, "--nats URL is required"},
		{[]string{"agent", "--nats", "nats://h:4222"}, "--device: device name \"\""},
		{[]string{"agent", "--nats", "nats://h:4222", "--device", "fp-12"}, "not starting with \"fp-\""},
		{[]string{"agent", "--nats", "nats://h:4222", "--device", "b", "--threads", "-1"}, "--threads -1"},
		{[]string{"agent", "--nats", "nats://h:4222", "--device", "b", "--tls-cert", "c.pem"}, "--tls-key"},
		{[]string{"profile", "--space", "small28", "--device", "b"}, "--device b needs --nats URL"},
		{[]string{"profile", "--space", "small28", "--nats", "nats://h:4222"}, "--nats needs --device NAME"},
		{[]string{"profile", "--space", "small28", "--nats", "nats://h:4222", "--device", "b", "--lut-threads", "2"}, "the agent's --threads"},
		{[]string{"search", "--target-ms", "1", "--device", "board"}, "--device board names an agent's device: give --nats URL"},
	} {
		code, _, errOut := runNas(t, c.args...)
		require.Equal(t, exitUsage, code, "%v: %s", c.args, errOut)
		require.Contains(t, errOut, c.want, "%v", c.args)
	}
	var got *agentOptions
	cmd := newCmdAgent(func(_ *cobra.Command, o *agentOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--nats", "nats://h:4222", "--device", "rpi5", "--threads", "4", "--project", "lab"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, "rpi5", got.Device)
	require.Equal(t, 4, got.Threads)
	require.Equal(t, "lab", got.Project)
}

// TestAgentChild is `nas agent` in a process of its own: it runs the
// command line in NAS_AGENT_ARGS and exits.
func TestAgentChild(t *testing.T) {
	raw := os.Getenv("NAS_AGENT_ARGS")
	if raw == "" {
		t.Skip("only run as the agent process of TestProfileThroughAgent")
	}
	var args []string
	require.NoError(t, json.Unmarshal([]byte(raw), &args))
	os.Exit(run(args, os.Stdout, os.Stderr))
}

// startAgentProcess runs `nas agent` with args as a separate process whose
// fingerprint has CPU model cpu (cluster.AgentCPUEnv), its stderr in the
// file it returns the path of.
func startAgentProcess(t *testing.T, cpu string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	raw, err := json.Marshal(append([]string{"agent"}, args...))
	require.NoError(t, err)
	logPath := filepath.Join(t.TempDir(), "agent.log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	t.Cleanup(func() { logFile.Close() })
	cmd := exec.Command(os.Args[0], "-test.run=^TestAgentChild$")
	cmd.Env = append(os.Environ(), "NAS_AGENT_ARGS="+string(raw), cluster.AgentCPUEnv+"="+cpu)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	crashtest.Start(t, cmd)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, logPath
}

// TestProfileThroughAgent: two `nas agent` processes standing for one
// board (a CPU model of their own) refuse garbage and serve `nas profile
// --nats`: the table lands under the board's fingerprint, both agents
// measured, the table is refused as this machine's, and once the agents
// are dead a profile fails naming the device and the command that serves
// it.
func TestProfileThroughAgent(t *testing.T) {
	srv := natstest.Start(t)
	const cpu = "test board standing in for an arm64 board"
	board := latency.CurrentFingerprint(1)
	board.CPUModel = cpu
	agentArgs := []string{"--nats", srv.URL(), "--device", "board", "--threads", "1"}
	a1, log1 := startAgentProcess(t, cpu, agentArgs...)
	a2, log2 := startAgentProcess(t, cpu, agentArgs...)
	nc, err := cluster.Connect(cluster.Settings{URL: srv.URL()})
	require.NoError(t, err)
	defer nc.Close()
	require.Eventually(t, func() bool {
		d, err := cluster.OpenDevice(t.Context(), nc, "", "board", cluster.DeviceOptions{Discover: 200 * time.Millisecond})
		return err == nil && d.Concurrency() == 2
	}, 30*time.Second, 100*time.Millisecond, "the two agents did not come up")

	// Garbage to an agent is refused, logged, and the agent serves on.
	names, err := cluster.NewNames("")
	require.NoError(t, err)
	hello, err := nc.Request(names.HelloSubject(board.ID()), nil, 10*time.Second)
	require.NoError(t, err)
	var h cluster.Hello
	require.NoError(t, json.Unmarshal(hello.Data, &h))
	for _, garbage := range [][]byte{[]byte("\x00garbage"), []byte(strings.Repeat("{", cluster.MaxMeasureRequestBytes+1)),
		[]byte(`{"v":1,"device":"` + board.ID() + `","key":"conv_o99999999_k3|1x8x8|b1","protocol":{}}`)} {
		msg, err := nc.Request(names.AgentSubject(board.ID(), h.Agent), garbage, 10*time.Second)
		require.NoError(t, err)
		rep, err := cluster.DecodeMeasureReply(msg.Data)
		require.NoError(t, err)
		require.True(t, rep.Refused, rep.Error)
		require.Nil(t, rep.Entry)
	}

	lut := filepath.Join(t.TempDir(), "board.db")
	sp := writeTinySpace(t)
	profile := []string{"profile", "--lut", lut, "--space", sp, "--calibrate", "1", "--rounds", "1", "--cap", "20ms", "--warmup", "1ms", "--no-probe", "--quiet",
		"--nats", srv.URL(), "--device", "board"}
	code, out, errOut := runNas(t, profile...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "device "+board.ID())

	sum, err := latency.Inspect(lut)
	require.NoError(t, err)
	require.Len(t, sum.Devices, 1)
	require.Equal(t, board.ID(), sum.Devices[0].ID)
	require.Equal(t, cpu, sum.Devices[0].Fingerprint.CPUModel)
	require.Positive(t, sum.Devices[0].Entries)

	// The board's table is not this machine's.
	code, _, errOut = runNas(t, "latency", "in1x8x8 cls3 | conv_o4_k3_arelu | conv_o8_k3_s2_arelu | conv_o8_k3_arelu | gap | linear_o3", "--lut", lut)
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "was profiled on another device ("+board.ID()+")")
	require.Contains(t, errOut, "cpu="+cpu)

	// Both agents measured (one request in flight on each).
	for _, a := range []*exec.Cmd{a1, a2} {
		require.NoError(t, a.Process.Signal(syscall.SIGTERM))
		_ = a.Wait()
	}
	refused := false
	for _, p := range []string{log1, log2} {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		require.Contains(t, string(b), "msg=measured", "agent log %s:\n%s", p, b)
		refused = refused || strings.Contains(string(b), `msg="request refused"`)
	}
	require.True(t, refused, "the garbage is logged")

	// With its agents gone, the device is named with the command that
	// serves it.
	code, _, errOut = runNas(t, append(profile[:len(profile):len(profile)], "--lut", filepath.Join(t.TempDir(), "x.db"))...)
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "device board ("+board.ID()+")")
	require.Contains(t, errOut, "nas agent --nats "+srv.URL()+" --device board")
	require.False(t, strings.Contains(errOut, "panic"))
}

// TestSearchWithAgent: `nas search --nats --device NAME` prices candidates
// with the board's table, measures the entries it lacks on the board's
// agent during the run, and records the board as the run's device.
func TestSearchWithAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a few tiny networks and measures their missing blocks at the default protocol")
	}
	srv := natstest.Start(t)
	const cpu = "test board standing in for an arm64 board"
	board := latency.CurrentFingerprint(1)
	board.CPUModel = cpu
	startAgentProcess(t, cpu, "--nats", srv.URL(), "--device", "board", "--threads", "1")
	f := newSearchFixture(t)
	startWorker(t, srv, f.data, "w")

	// The board's table holds the space's calibration networks, measured
	// through the agent, and so its overhead entry; the candidates' other
	// blocks are missing.
	sp, err := space.LoadSpace("convnet28")
	require.NoError(t, err)
	calib, err := pipeline.SpaceCalibration(sp, pipeline.DefaultCalibrate)
	require.NoError(t, err)
	lut := filepath.Join(t.TempDir(), "board.db")
	args := []string{"profile", "--lut", lut, "--quiet", "--cap", "5ms", "--warmup", "1ms", "--tolerance", "0.5", "--rounds", "1", "--nats", srv.URL(), "--device", "board"}
	for _, a := range calib {
		args = append(args, a.String())
	}
	require.Eventually(t, func() bool {
		code, _, _ := runNas(t, args...)
		return code == 0
	}, 30*time.Second, 200*time.Millisecond, "profile through the agent")
	entries := func() int {
		sum, err := latency.Inspect(lut)
		require.NoError(t, err)
		require.Len(t, sum.Devices, 1)
		require.Equal(t, board.ID(), sum.Devices[0].ID)
		return sum.Devices[0].Entries
	}
	before := entries()

	dir := t.TempDir()
	search := f.args(dir, "--budget", "2", "--final", "1", "--threads", "1", "--nats", srv.URL(), "--device", "board")
	search = append(search, "--lut", lut)
	code, out, errOut := runNas(t, search...)
	require.Equal(t, 0, code, errOut)
	var sum searchSummary
	require.NoError(t, json.Unmarshal([]byte(out), &sum), out)
	require.Len(t, sum.Final, 1)
	require.Positive(t, sum.Final[0].MeasuredMs, "the final network timed on the board")
	require.Greater(t, entries(), before, "missing entries measured on the board during the run")

	store, err := results.OpenReadOnly(filepath.Join(dir, "store.db"))
	require.NoError(t, err)
	defer store.Close()
	run, err := store.Run(1)
	require.NoError(t, err)
	require.Equal(t, board.ID(), run.Config.Device)
}
