package cluster

import "fmt"

// Names are the subjects, streams, consumers and buckets of one project on
// a server. Every one starts with the project name, so that projects
// sharing a server neither see nor take each other's work (and a server's
// permissions can be granted per project with "<project>.>").
type Names struct {
	project string
}

// NewNames returns the names of project (DefaultProject when empty).
func NewNames(project string) (Names, error) {
	s := Settings{Project: project}
	if !projectName.MatchString(s.project()) {
		return Names{}, fmt.Errorf("nats project %q: want 1 to 32 letters, digits, '-' or '_'", project)
	}
	return Names{project: s.project()}, nil
}

// Project is the project name.
func (n Names) Project() string { return n.project }

// TaskStream is the work-queue stream of tasks.
func (n Names) TaskStream() string { return n.project + "_tasks" }

// TaskSubjects is the filter of TaskStream: every task subject.
func (n Names) TaskSubjects() string { return n.project + ".tasks.>" }

// TaskSubject is where the task with ID task of run is published.
func (n Names) TaskSubject(run, task string) string {
	return n.project + ".tasks." + run + "." + task
}

// WorkerConsumer is the durable pull consumer that all workers share.
func (n Names) WorkerConsumer() string { return "workers" }

// ResultBucket is the key-value bucket of results, keyed ResultKey.
func (n Names) ResultBucket() string { return n.project + "_results" }

// ResultKey is the key of a task's result in ResultBucket.
func (n Names) ResultKey(run, task string) string { return run + "." + task }

// BlobBucket is the object store of blobs, named by their SHA-256.
func (n Names) BlobBucket() string { return n.project + "_blobs" }

// ExhaustedStream keeps the server's advisories of tasks that reached
// MaxDeliver, so that a coordinator that was away when one was sent still
// records the task as failed.
func (n Names) ExhaustedStream() string { return n.project + "_exhausted" }

// ExhaustedSubject is the server's max-deliveries advisory subject of the
// workers' consumer.
func (n Names) ExhaustedSubject() string {
	return "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + n.TaskStream() + "." + n.WorkerConsumer()
}
