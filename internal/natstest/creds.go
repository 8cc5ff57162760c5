package natstest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"
)

// Creds is a server that admits only users with a credentials file (a
// user JWT signed by an account the server knows, and the user's nkey
// seed, as nats.go's UserCredentials reads it): the server runs in
// operator mode with a memory resolver preloaded with one account, which
// may use JetStream, and the system account.
type Creds struct {
	*Server
	// File is the credentials file of a user of the server's account.
	File string
	// Foreign is the credentials file of a user of an account the server
	// does not know: it is refused like no credentials at all.
	Foreign string
}

// StartCreds starts a server that requires a credentials file (Start
// with a configuration file).
func StartCreds(t testing.TB) *Creds {
	t.Helper()
	dir := t.TempDir()
	op := newKeys(t, nkeys.CreateOperator)
	sys := newKeys(t, nkeys.CreateAccount)
	acc := newKeys(t, nkeys.CreateAccount)

	oc := jwt.NewOperatorClaims(op.pub)
	oc.Name = "nas-test"
	oc.SystemAccount = sys.pub
	opJWT, err := oc.Encode(op.kp)
	require.NoError(t, err)
	sc := jwt.NewAccountClaims(sys.pub)
	sc.Name = "SYS"
	sysJWT, err := sc.Encode(op.kp)
	require.NoError(t, err)
	ac := jwt.NewAccountClaims(acc.pub)
	ac.Name = "nas"
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	accJWT, err := ac.Encode(op.kp)
	require.NoError(t, err)

	conf := filepath.Join(dir, "server.conf")
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(`operator: %q
system_account: %q
resolver: MEMORY
resolver_preload: {
  %s: %q
  %s: %q
}
`, opJWT, sys.pub, sys.pub, sysJWT, acc.pub, accJWT)), 0o600))

	c := &Creds{File: filepath.Join(dir, "worker.creds"), Foreign: filepath.Join(dir, "foreign.creds")}
	writeUser(t, c.File, acc)
	writeUser(t, c.Foreign, newKeys(t, nkeys.CreateAccount))
	c.Server = Start(t, "-c", conf)
	return c
}

type keys struct {
	kp  nkeys.KeyPair
	pub string
}

func newKeys(t testing.TB, create func() (nkeys.KeyPair, error)) keys {
	t.Helper()
	kp, err := create()
	require.NoError(t, err)
	pub, err := kp.PublicKey()
	require.NoError(t, err)
	return keys{kp, pub}
}

// writeUser writes the credentials file of a new user of account acc.
func writeUser(t testing.TB, path string, acc keys) {
	t.Helper()
	u := newKeys(t, nkeys.CreateUser)
	uc := jwt.NewUserClaims(u.pub)
	uc.Name = filepath.Base(path)
	uJWT, err := uc.Encode(acc.kp)
	require.NoError(t, err)
	seed, err := u.kp.Seed()
	require.NoError(t, err)
	b, err := jwt.FormatUserConfig(uJWT, seed)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o600))
}
