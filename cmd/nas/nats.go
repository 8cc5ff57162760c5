package main

import (
	"context"
	"strings"

	"nas/cluster"
	"nas/latency"
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

// agent opens the device a --device NAME names on the server, measured
// through its agents; nil for no device or a table's device (fp-...).
func (o *natsOptions) agent(ctx context.Context, device string) (latency.RemoteDevice, func(), error) {
	if o.URL == "" || device == "" || strings.HasPrefix(device, "fp-") {
		return nil, func() {}, nil
	}
	d, closeNATS, err := cluster.DialDevice(ctx, o.settings("nas device "+device), device, cluster.DeviceOptions{})
	if err != nil {
		return nil, nil, err
	}
	return d, closeNATS, nil
}

// checkAgentDevice refuses a device NAME (an agent's) without --nats.
func (o *natsOptions) checkAgentDevice(device string) error {
	if device == "" || strings.HasPrefix(device, "fp-") {
		return nil
	}
	if o.URL == "" {
		return usageErrorf("--device %s names an agent's device: give --nats URL (the server its 'nas agent' is on), or a table's device, fp-... (see 'nas lut show')", device)
	}
	if err := cluster.CheckDeviceName(device); err != nil {
		return usageErrorf("--device: %v", err)
	}
	return nil
}

// remoteWithAgent is remote and, when device names an agent's device,
// that device (agent); close ends both connections.
func (o *natsOptions) remoteWithAgent(ctx context.Context, name, device string) (*cluster.Remote, latency.RemoteDevice, func(), error) {
	remote, closeRemote, err := o.remote(ctx, name)
	if err != nil {
		return nil, nil, nil, err
	}
	agent, closeAgent, err := o.agent(ctx, device)
	if err != nil {
		closeRemote()
		return nil, nil, nil, err
	}
	return remote, agent, func() { closeAgent(); closeRemote() }, nil
}
