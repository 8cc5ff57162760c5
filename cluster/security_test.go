package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"nas/internal/natstest"
)

// TestAuthRequired: against a server that requires a user and password, a
// worker without them, or with a wrong password, cannot connect and so
// cannot take tasks; with them it runs a task.
func TestAuthRequired(t *testing.T) {
	srv := natstest.Start(t, "--user", "worker", "--pass", "s3cret")
	for _, s := range []Settings{
		{URL: srv.URL()},
		{URL: srv.URL(), User: "worker", Password: "wrong"},
		{URL: srv.URL(), User: "intruder", Password: "s3cret"},
	} {
		_, err := Connect(s)
		require.ErrorContains(t, err, "Authorization Violation", "user %q", s.User)
	}
	s := Settings{URL: srv.URL(), User: "worker", Password: "s3cret"}
	nc, err := Connect(s)
	require.NoError(t, err)
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := OpenQueue(ctx, nc, "", testQueueConfig)
	require.NoError(t, err)
	wnc, err := Connect(s)
	require.NoError(t, err)
	defer wnc.Close()
	wq, err := JoinQueue(ctx, wnc, "")
	require.NoError(t, err)
	w := &Worker{Name: "w", Tasks: Registry{"echo": echoTask}, Log: testLog(t)}
	go w.Run(ctx, wq)
	got := collect(t, q, []Task{{Run: "r", ID: "t", Kind: "echo", Payload: json.RawMessage(`{"x":1}`)}}, 30*time.Second)
	require.JSONEq(t, `{"x":1}`, string(got["t"].Output))
}

// TestCredsRequired: against a server in operator mode, a worker with a
// credentials file (a user JWT and its seed) takes and runs a task; one
// without credentials, or with those of an account the server does not
// know, cannot connect and so cannot take tasks.
func TestCredsRequired(t *testing.T) {
	srv := natstest.StartCreds(t)
	for _, s := range []Settings{
		{URL: srv.URL()},
		{URL: srv.URL(), CredsFile: srv.Foreign},
		{URL: srv.URL(), User: "worker", Password: "s3cret"},
	} {
		_, err := Connect(s)
		require.ErrorContains(t, err, "Authorization Violation", "%+v", s)
	}
	s := Settings{URL: srv.URL(), CredsFile: srv.File}
	nc, err := Connect(s)
	require.NoError(t, err)
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := OpenQueue(ctx, nc, "", testQueueConfig)
	require.NoError(t, err)
	wnc, err := Connect(s)
	require.NoError(t, err)
	defer wnc.Close()
	wq, err := JoinQueue(ctx, wnc, "")
	require.NoError(t, err)
	w := &Worker{Name: "w", Tasks: Registry{"echo": echoTask}, Log: testLog(t)}
	go w.Run(ctx, wq)
	got := collect(t, q, []Task{{Run: "r", ID: "t", Kind: "echo", Payload: json.RawMessage(`{"x":2}`)}}, 30*time.Second)
	require.JSONEq(t, `{"x":2}`, string(got["t"].Output))
	require.Equal(t, "w", got["t"].Worker)
}

// echoTask returns its payload.
func echoTask(_ context.Context, p json.RawMessage, _ Env) (json.RawMessage, error) { return p, nil }

// TestGarbageRejected: messages on the task subjects that are not tasks
// (garbage, an oversized-looking or mismatched envelope) are terminated and
// logged; when the subject names a task its coordinator gets a failed
// result; the worker keeps serving the tasks that follow.
func TestGarbageRejected(t *testing.T) {
	srv := natstest.Start(t)
	q := testQueue(t, srv)
	runWorker(t, srv, &Worker{Name: "w", Tasks: Registry{"echo": echoTask}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	publish := func(subject string, data []byte) {
		_, err := q.js.Publish(ctx, subject, data)
		require.NoError(t, err)
	}
	publish("nas.tasks.run-7.g0", []byte("{{{garbage"))
	publish("nas.tasks.run-7.g1", []byte{0xff, 0x00, 0x13})
	good, err := EncodeTask(Task{Run: "run-7", ID: "g2", Kind: "echo", Payload: json.RawMessage(`1`)})
	require.NoError(t, err)
	publish("nas.tasks.run-7.g3", good) // a task under another task's subject
	publish("nas.tasks.nonsense", []byte("x"))
	publish("nas.tasks.run-7.g4.extra", []byte("{}"))

	got := collect(t, q, []Task{
		{Run: "run-7", ID: "ok", Kind: "echo", Payload: json.RawMessage(`{"after":"garbage"}`)},
	}, 30*time.Second)
	require.Equal(t, StatusDone, got["ok"].Status)

	failed := map[string]string{}
	require.NoError(t, NewCoordinator(q, nil).Collect(ctx, "run-7", []string{"g0", "g1", "g3"}, func(r Result) error {
		require.Equal(t, StatusFailed, r.Status)
		failed[r.Task] = r.Error
		return nil
	}))
	require.Contains(t, failed["g0"], "malformed message: task:")
	require.Contains(t, failed["g1"], "malformed message: task:")
	require.Contains(t, failed["g3"], "arrived on subject nas.tasks.run-7.g3, want nas.tasks.run-7.g2")
	// Nothing is left in the work queue: every message was settled (the
	// last ack may land just after its result).
	require.Eventually(t, func() bool {
		info, err := q.tasks.Info(ctx)
		return err == nil && info.State.Msgs == 0
	}, 10*time.Second, 20*time.Millisecond)
}

// TestProjectsApart: a worker of another project neither sees nor takes
// this project's tasks.
func TestProjectsApart(t *testing.T) {
	srv := natstest.Start(t)
	q := testQueue(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	other, err := JoinQueue(ctx, connect(t, srv, "other"), "other")
	require.NoError(t, err)
	w := &Worker{Name: "other", Tasks: Registry{"echo": func(context.Context, json.RawMessage, Env) (json.RawMessage, error) {
		panic("a task of project nas reached project other")
	}}}
	go w.Run(ctx, other)
	runWorker(t, srv, &Worker{Name: "mine", Tasks: Registry{"echo": echoTask}})
	got := collect(t, q, []Task{{Run: "r", ID: "t", Kind: "echo", Payload: json.RawMessage(`2`)}}, 30*time.Second)
	require.Equal(t, "mine", got["t"].Worker)
}

// TestTLS: against a server that requires TLS with client certificates, a
// client with the CA, certificate and key connects; one without its
// certificate does not.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCert(t, dir, "ca", nil, nil)
	newCert(t, dir, "server", ca, caKey)
	newCert(t, dir, "client", ca, caKey)
	p := func(name string) string { return filepath.Join(dir, name) }
	srv := natstest.Start(t, "--tls", "--tlscert", p("server.pem"), "--tlskey", p("server-key.pem"),
		"--tlscacert", p("ca.pem"), "--tlsverify")
	nc, err := Connect(Settings{URL: srv.URL(), TLSCA: p("ca.pem"), TLSCert: p("client.pem"), TLSKey: p("client-key.pem")})
	require.NoError(t, err)
	require.True(t, nc.IsConnected())
	state, err := nc.TLSConnectionState()
	require.NoError(t, err)
	require.True(t, state.HandshakeComplete)
	nc.Close()
	_, err = Connect(Settings{URL: srv.URL(), TLSCA: p("ca.pem")})
	require.Error(t, err, "a client without a certificate")
	_, err = Connect(Settings{URL: srv.URL()})
	require.Error(t, err, "a client without TLS")
}

// newCert writes name.pem and name-key.pem to dir: a CA when parent is
// nil, else a certificate for 127.0.0.1 signed by parent.
func newCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		parent, parentKey = tmpl, key
	} else {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+"-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return cert, key
}
