// Package natstest starts a real NATS server with JetStream on a loopback
// port for tests, with its store in a temporary folder, and stops it when
// the test ends.
//
// The server is the github.com/nats-io/nats-server/v2 module run inside
// the test process (Embedded), or with NAS_TEST_NATS_SERVER=debian
// Debian's nats-server package as a separate process (the test skips when
// it is not installed). Both take nats-server's command-line options, so a
// test names its users, TLS files or configuration file the same way for
// either. Debian's 2.9.10 sometimes stops answering when two clients
// create one project's streams at once (TestOpenRace); the module's
// release does not, so it is the default, except under the race detector
// (race.go says why), where Debian's process is.
package natstest

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
)

// ServerEnv names the environment variable that chooses the server:
// "debian" for Debian's nats-server process, "module" for the module in
// the test process; unset, the module, or Debian's process in race builds.
const ServerEnv = "NAS_TEST_NATS_SERVER"

// Debian reports whether the tests run against Debian's nats-server.
func Debian() bool {
	v := os.Getenv(ServerEnv)
	return v == "debian" || (raceBuild && v != "module")
}

// Server is a NATS server with JetStream on loopback, started by a test
// and stopped when it ends.
type Server struct {
	t     testing.TB
	port  int
	dir   string   // JetStream's file store
	extra []string // more command-line options (users, TLS, -c FILE)

	// Debian's process.
	cmd  *exec.Cmd
	done chan struct{}
	// The module's server.
	srv *server.Server
}

// serverBinary is Debian's nats-server (package nats-server).
const serverBinary = "nats-server"

// Start starts a server with JetStream on a random loopback port with its
// store in a new folder, and waits until it is ready. extra are more
// nats-server command-line options. With Debian's server, it skips the
// test when nats-server is not installed.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	if Debian() {
		if _, err := exec.LookPath(serverBinary); err != nil {
			t.Skipf("%s not on PATH (apt-get install -y nats-server, or scripts/setup.sh): %v", serverBinary, err)
		}
	}
	s := &Server{t: t, port: -1, dir: t.TempDir(), extra: extra}
	s.start()
	t.Cleanup(func() { s.Stop() })
	return s
}

func (s *Server) args() []string {
	return append([]string{"-js", "-a", "127.0.0.1", "-p", fmt.Sprint(s.port), "-sd", s.dir}, s.extra...)
}

// start runs the server on s.port (-1: a random one, then remembered, so
// that a restart comes back on the same address).
func (s *Server) start() {
	s.t.Helper()
	if Debian() {
		s.startProcess()
	} else {
		s.startEmbedded()
	}
	require.NotZero(s.t, s.port)
}

func (s *Server) startEmbedded() {
	t := s.t
	t.Helper()
	fs := flag.NewFlagSet("nats-server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	opts, err := server.ConfigureOptions(fs, s.args(), nil, nil, nil)
	require.NoError(t, err, "nats-server options %v", s.args())
	opts.NoSigs = true
	srv, err := server.NewServer(opts)
	require.NoError(t, err)
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		t.Fatal("nats-server (module) not ready after 30 s")
	}
	s.srv = srv
	addr, ok := srv.Addr().(*net.TCPAddr)
	require.True(t, ok, "nats-server (module) listens on %v", srv.Addr())
	s.port = addr.Port
}

var listening = regexp.MustCompile(`Listening for client connections on 127\.0\.0\.1:(\d+)`)

func (s *Server) startProcess() {
	t := s.t
	t.Helper()
	cmd := exec.Command(serverBinary, s.args()...)
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
}

// URL is the server's client URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// Stop shuts the server down cleanly and waits until it has.
func (s *Server) Stop() {
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
		s.srv = nil
	}
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

// Traffic is what the server has received from and sent to its clients
// since it started (its /varz counters).
type Traffic struct {
	InMsgs, OutMsgs, InBytes, OutBytes int64
}

// Traffic returns the server's counters; ok is false with Debian's
// server, whose counters this package does not read.
func (s *Server) Traffic() (tr Traffic, ok bool) {
	if s.srv == nil {
		return Traffic{}, false
	}
	v, err := s.srv.Varz(nil)
	if err != nil {
		return Traffic{}, false
	}
	return Traffic{InMsgs: v.InMsgs, OutMsgs: v.OutMsgs, InBytes: v.InBytes, OutBytes: v.OutBytes}, true
}
