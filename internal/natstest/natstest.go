// Package natstest starts a real nats-server with JetStream on a loopback
// port for tests (Debian's nats-server package), with its store in a
// temporary folder, and stops it when the test ends. Tests skip when
// nats-server is not installed.
package natstest

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Server is a real nats-server process with JetStream on loopback,
// started by a test and stopped when it ends.
type Server struct {
	t     testing.TB
	port  int
	dir   string   // JetStream's file store
	extra []string // more command-line options (users, TLS)
	cmd   *exec.Cmd
	done  chan struct{}
}

// serverBinary is Debian's nats-server (package nats-server).
const serverBinary = "nats-server"

// Start starts nats-server -js on a random loopback port with its
// store in a new folder, and waits until it says it is ready. It skips the
// test when nats-server is not installed.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	if _, err := exec.LookPath(serverBinary); err != nil {
		t.Skipf("%s not on PATH (apt-get install -y nats-server, or scripts/setup.sh): %v", serverBinary, err)
	}
	s := &Server{t: t, port: -1, dir: t.TempDir(), extra: extra}
	s.start()
	t.Cleanup(func() { s.Stop() })
	return s
}

var listening = regexp.MustCompile(`Listening for client connections on 127\.0\.0\.1:(\d+)`)

// start runs the server on s.port (-1: a random one, then remembered, so
// that a restart comes back on the same address).
func (s *Server) start() {
	t := s.t
	t.Helper()
	args := append([]string{"-js", "-a", "127.0.0.1", "-p", fmt.Sprint(s.port), "-sd", s.dir}, s.extra...)
	cmd := exec.Command(serverBinary, args...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	s.cmd, s.done = cmd, make(chan struct{})
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var log strings.Builder
		port, said := 0, false
		for sc.Scan() {
			line := sc.Text()
			if !said {
				log.WriteString(line + "\n")
				if m := listening.FindStringSubmatch(line); m != nil {
					fmt.Sscan(m[1], &port)
				}
				if strings.Contains(line, "Server is ready") {
					s.port, said = port, true
					ready <- nil
				}
			}
		}
		if !said {
			ready <- fmt.Errorf("nats-server ended before it was ready:\n%s", log.String())
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
		close(s.done)
	}()
	select {
	case err := <-ready:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("nats-server not ready after 30 s")
	}
	require.NotZero(t, s.port)
}

// URL is the server's client URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// Stop shuts the server down cleanly (SIGTERM) and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Restart stops the server and starts it again on the same port and store.
func (s *Server) Restart() {
	s.Stop()
	s.start()
}
