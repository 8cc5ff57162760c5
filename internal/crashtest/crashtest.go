// Package crashtest kills a writing process in the middle of a commit, for
// the kill -9 tests of the bbolt stores (latency tables, results store),
// and holds a store open in another process, for their locking tests
// (Hold, HoldFile).
//
// The test binary re-runs itself as the writer: a test function that does
// nothing unless an environment variable names the file, and then calls
// Serve. The parent drives it in lockstep with KillInCommit, one commit per
// go-ahead byte, so that the writer is never more than one commit ahead of
// what it has reported, and the SIGKILL lands inside a commit or just after.
package crashtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// Serve is the writer's side: for every byte read from stdin it prints
// "begin", calls commit and prints the index commit returns once it has
// committed. It exits 0 when stdin closes and 3 when commit fails.
func Serve(commit func() (int, error)) {
	in := bufio.NewReader(os.Stdin)
	for {
		if _, err := in.ReadByte(); err != nil { // the go-ahead for one more commit
			os.Exit(0)
		}
		fmt.Println("begin")
		i, err := commit()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Println(i) // unbuffered: one write per commit
	}
}

// Start starts cmd, a run of the test binary itself, and skips the test
// when the kernel cannot execute that binary: a test binary for another
// architecture run through a user-mode emulator (go test -exec
// qemu-aarch64-static) that binfmt_misc does not know cannot start itself
// again.
func Start(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	err := cmd.Start()
	if errors.Is(err, syscall.ENOEXEC) {
		t.Skipf("cannot re-run the test binary %s (%v): run this test on the target, or register the emulator with binfmt_misc", cmd.Path, err)
	}
	require.NoError(t, err)
}

// KillInCommit starts the test binary running the test writerTest with the
// environment variable env set to value, lets it make commits commits,
// then gives one more go-ahead and sends SIGKILL as soon as the writer says
// it begins. It returns the index of the last commit the writer reported.
func KillInCommit(t testing.TB, writerTest, env, value string, commits int) int {
	t.Helper()
	cmd, stdin, sc := startSelf(t, writerTest, env, value)
	acked := -1
	var err error
	for range commits {
		_, err := stdin.Write([]byte{'g'})
		require.NoError(t, err)
		require.True(t, sc.Scan() && sc.Text() == "begin", "writer stopped early")
		require.True(t, sc.Scan(), "writer stopped early")
		acked, err = strconv.Atoi(sc.Text())
		require.NoError(t, err, "writer said %q", sc.Text())
	}
	_, err = stdin.Write([]byte{'g'})
	require.NoError(t, err)
	require.True(t, sc.Scan() && sc.Text() == "begin", "writer stopped early")
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	return acked
}

// startSelf starts the test binary running the test named test with the
// environment variable env set to value, and returns the command, its
// stdin and a scanner of its stdout.
func startSelf(t testing.TB, test, env, value string) (*exec.Cmd, io.WriteCloser, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), env+"="+value)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	Start(t, cmd)
	return cmd, stdin, bufio.NewScanner(stdout)
}
