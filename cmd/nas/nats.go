package main

import (
	"context"

	"nas/cluster"
)

func (o *natsOptions) settings(name string) cluster.Settings {
	return cluster.Settings{URL: o.URL, CredsFile: o.Creds, User: o.User, Password: o.Password,
		TLSCert: o.TLSCert, TLSKey: o.TLSKey, TLSCA: o.TLSCA, Project: o.Project, Name: name}
}

// remote connects to the server and returns the coordinator's side of the
// pipeline's tasks (nil when --nats is not given: everything runs in this
// process) and the function that closes the connection.
func (o *natsOptions) remote(ctx context.Context, name string) (*cluster.Remote, func(), error) {
	if o.URL == "" {
		return nil, func() {}, nil
	}
	nc, err := cluster.Connect(o.settings(name))
	if err != nil {
		return nil, nil, err
	}
	q, err := cluster.OpenQueue(ctx, nc, o.Project, cluster.QueueConfig{})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return &cluster.Remote{Coordinator: cluster.NewCoordinator(q, nil)}, nc.Close, nil
}

// check refuses settings that cannot work, before anything runs.
func (o *natsOptions) check() error {
	if o.URL == "" {
		return nil
	}
	if _, err := o.settings("").Options(); err != nil {
		return usageErrorf("%v", err)
	}
	return nil
}
