package cluster

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/nats-io/nats.go"
)

// DefaultProject is the namespace of subjects, streams and buckets when
// Settings.Project is empty.
const DefaultProject = "nas"

// Settings say how to reach the NATS server and under which project name.
// The zero value of each field is its default; Connect checks the whole
// struct and returns an error naming the field and the fix.
type Settings struct {
	// URL is the server, "nats://host:4222" (a comma-separated list for a
	// cluster). "tls://" asks for TLS.
	URL string
	// CredsFile is a NATS credentials file (user JWT and NKey seed), as
	// `nsc` writes it. It excludes User and Password.
	CredsFile string
	// User and Password are for servers configured with users.
	User     string
	Password string
	// TLSCert and TLSKey are this client's certificate and key (PEM), for
	// servers that verify clients; TLSCA is the PEM file of the authority
	// that signed the server's certificate. Any of them turns TLS on.
	TLSCert string
	TLSKey  string
	TLSCA   string
	// Project prefixes every subject, stream and bucket name (letters,
	// digits, '-' and '_'; DefaultProject when empty).
	Project string
	// Name is how this client shows in the server's monitoring (the worker
	// or coordinator name).
	Name string
	// ReconnectWait is the pause between reconnection attempts after the
	// server goes away (0: 250 ms). Clients reconnect for ever: a server
	// restart interrupts a run, it does not end it.
	ReconnectWait time.Duration
}

var projectName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// project returns the project name, the default applied.
func (s Settings) project() string {
	if s.Project == "" {
		return DefaultProject
	}
	return s.Project
}

// check validates s without touching the network or the files.
func (s Settings) check() error {
	switch {
	case s.URL == "":
		return errors.New("nats: no server URL (--nats nats://host:4222)")
	case !projectName.MatchString(s.project()):
		return fmt.Errorf("nats project %q: want 1 to 32 letters, digits, '-' or '_' (it prefixes subjects and stream names)", s.Project)
	case s.CredsFile != "" && (s.User != "" || s.Password != ""):
		return errors.New("nats: give a credentials file or a user and password, not both")
	case s.Password != "" && s.User == "":
		return errors.New("nats: a password without a user (--user)")
	case (s.TLSCert == "") != (s.TLSKey == ""):
		return errors.New("nats: a client certificate needs its key and a key its certificate (--tls-cert and --tls-key)")
	case s.ReconnectWait < 0:
		return fmt.Errorf("nats: reconnect wait %v: want 0 (the default) or more", s.ReconnectWait)
	}
	for _, f := range []struct{ flag, path string }{
		{"--creds", s.CredsFile}, {"--tls-cert", s.TLSCert}, {"--tls-key", s.TLSKey}, {"--tls-ca", s.TLSCA},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("nats %s: %w", f.flag, err)
		}
	}
	return nil
}

// Options returns the nats.go options that Settings stand for: name,
// credentials, TLS and endless reconnection.
func (s Settings) Options() ([]nats.Option, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	wait := s.ReconnectWait
	if wait == 0 {
		wait = 250 * time.Millisecond
	}
	opts := []nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(wait),
	}
	if s.Name != "" {
		opts = append(opts, nats.Name(s.Name))
	}
	if s.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(s.CredsFile))
	}
	if s.User != "" {
		opts = append(opts, nats.UserInfo(s.User, s.Password))
	}
	if s.TLSCert != "" {
		opts = append(opts, nats.ClientCert(s.TLSCert, s.TLSKey))
	}
	if s.TLSCA != "" {
		opts = append(opts, nats.RootCAs(s.TLSCA))
	}
	return opts, nil
}

// Connect opens a connection to the server of s. A server that requires
// credentials refuses a client without them here, with the server's
// reason in the error.
func Connect(s Settings) (*nats.Conn, error) {
	opts, err := s.Options()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(s.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", s.URL, err)
	}
	return nc, nil
}
