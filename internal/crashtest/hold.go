package crashtest

import (
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// Hold is the side of a lock test that holds a file open in another
// process: it calls open, prints "held" once open returns, waits until
// stdin closes, then closes what open returned and exits 0. It exits 3
// when open fails.
func Hold(open func() (io.Closer, error)) {
	c, err := open()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	fmt.Println("held")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := c.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	os.Exit(0)
}

// HoldFile starts the test binary running the test holderTest with the
// environment variable env set to value, waits until it says it holds the
// file (see Hold), and returns a function that lets it go and waits for it
// to exit. The order of events, not a timing, decides when the file is
// held.
func HoldFile(t testing.TB, holderTest, env, value string) (release func()) {
	t.Helper()
	cmd, stdin, sc := startSelf(t, holderTest, env, value)
	if !sc.Scan() || sc.Text() != "held" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("the holder process did not open the file (said %q)", sc.Text())
	}
	released := false
	release = func() {
		if released {
			return
		}
		released = true
		require.NoError(t, stdin.Close())
		require.NoError(t, cmd.Wait(), "the holder process failed")
	}
	t.Cleanup(release)
	return release
}
