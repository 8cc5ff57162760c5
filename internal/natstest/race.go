//go:build race

package natstest

// raceBuild is true under the race detector. The module's server would then
// be checked along with the tests, and nats-server v2.15.3 has a data race
// of its own (a stream's configuration update against a consumer's
// creation, in its file store) that fails whichever test makes a server do
// both at once. Race builds therefore run Debian's server as a process of
// its own, unless NAS_TEST_NATS_SERVER=module asks for the module.
const raceBuild = true
