package cluster

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/internal/natstest"
)

func TestSettingsCheck(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f.pem")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	for _, c := range []struct {
		name string
		s    Settings
		want string // "" when valid
	}{
		{"plain", Settings{URL: "nats://127.0.0.1:4222"}, ""},
		{"no url", Settings{}, "no server URL"},
		{"project", Settings{URL: "u", Project: "a.b"}, `nats project "a.b"`},
		{"long project", Settings{URL: "u", Project: "abcdefghijabcdefghijabcdefghij123"}, "1 to 32"},
		{"creds and user", Settings{URL: "u", CredsFile: file, User: "a"}, "not both"},
		{"password alone", Settings{URL: "u", Password: "p"}, "without a user"},
		{"cert without key", Settings{URL: "u", TLSCert: file}, "--tls-key"},
		{"missing creds", Settings{URL: "u", CredsFile: "/nonexistent/x.creds"}, "--creds"},
		{"missing ca", Settings{URL: "u", TLSCA: "/nonexistent/ca.pem"}, "--tls-ca"},
		{"all tls", Settings{URL: "tls://h:4222", TLSCert: file, TLSKey: file, TLSCA: file}, ""},
		{"user", Settings{URL: "u", User: "a", Password: "b", Project: "proj-1"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts, err := c.s.Options()
			if c.want == "" {
				require.NoError(t, err)
				require.NotEmpty(t, opts)
				return
			}
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestNames(t *testing.T) {
	n, err := NewNames("")
	require.NoError(t, err)
	require.Equal(t, "nas", n.Project())
	require.Equal(t, "nas_tasks", n.TaskStream())
	require.Equal(t, "nas.tasks.run-3.t7", n.TaskSubject("run-3", "t7"))
	require.Equal(t, "run-3.t7", n.ResultKey("run-3", "t7"))
	p, err := NewNames("lab")
	require.NoError(t, err)
	require.Equal(t, "lab.tasks.>", p.TaskSubjects())
	require.Equal(t, "lab_results", p.ResultBucket())
	require.Equal(t, "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.lab_tasks.workers", p.ExhaustedSubject())
	_, err = NewNames("a b")
	require.Error(t, err)
}

func TestConnect(t *testing.T) {
	srv := natstest.Start(t)
	nc, err := Connect(Settings{URL: srv.URL(), Name: "test"})
	require.NoError(t, err)
	defer nc.Close()
	require.True(t, nc.IsConnected())
	_, err = Connect(Settings{URL: "nats://127.0.0.1:1"})
	require.Error(t, err)
}
