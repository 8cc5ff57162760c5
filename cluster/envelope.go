package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"time"
)

// Limits of the envelopes. A task or result above its limit is malformed:
// the payload of a task is the inputs of one function call (an arch, a
// training config, seeds, blob hashes), and weights travel as blobs.
const (
	// MaxTaskBytes bounds a task envelope; the task stream refuses larger
	// messages as well.
	MaxTaskBytes = 256 << 10
	// MaxResultBytes bounds a result envelope (the results bucket's value).
	MaxResultBytes = 256 << 10
	// MaxErrorBytes bounds the reason a failed result carries; longer
	// reasons are cut.
	MaxErrorBytes = 4 << 10
)

// envelopeVersion is the version of the task and result envelopes.
const envelopeVersion = 1

var (
	idPattern   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	kindPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
)

// Task is one unit of work: a kind of library call and its inputs.
type Task struct {
	// Version is the envelope's layout version (set by Encode).
	Version int `json:"v"`
	// Run and ID name the task; a result is keyed by both. IDs are 1 to
	// 64 letters, digits, '-' or '_' (they are subject tokens and keys).
	Run string `json:"run"`
	ID  string `json:"id"`
	// Kind selects the worker's function (Registry); lower-case letters,
	// digits and '-'.
	Kind string `json:"kind"`
	// Dataset, when set, is the data the task must run on; a worker whose
	// dataset differs refuses the task.
	Dataset *DatasetID `json:"dataset,omitempty"`
	// Payload is the function's input, JSON.
	Payload json.RawMessage `json:"payload"`
}

// Status of a result.
const (
	StatusDone   = "done"
	StatusFailed = "failed"
)

// Result is what became of a task.
type Result struct {
	Version int    `json:"v"`
	Run     string `json:"run"`
	Task    string `json:"task"`
	// Kind is the task's kind; empty only in the failed result of a
	// message that was not a readable task.
	Kind string `json:"kind,omitempty"`
	// Status is StatusDone, with Output, or StatusFailed, with Error.
	Status string          `json:"status"`
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
	// Worker is the name of the worker that wrote the result ("" when the
	// coordinator recorded a task no worker finished).
	Worker string `json:"worker,omitempty"`
	// Attempt is the delivery that produced the result (1 = first).
	Attempt int `json:"attempt"`
	// Elapsed is how long the task function ran.
	Elapsed time.Duration `json:"elapsed_ns,omitempty"`
}

// Check reports the first field of t that is out of range.
func (t *Task) Check() error {
	switch {
	case !idPattern.MatchString(t.Run):
		return fmt.Errorf("%w: task run %q: want 1 to 64 letters, digits, '-' or '_'", ErrMalformed, clip(t.Run))
	case !idPattern.MatchString(t.ID):
		return fmt.Errorf("%w: task id %q: want 1 to 64 letters, digits, '-' or '_'", ErrMalformed, clip(t.ID))
	case !kindPattern.MatchString(t.Kind):
		return fmt.Errorf("%w: task kind %q: want 1 to 32 lower-case letters, digits or '-'", ErrMalformed, clip(t.Kind))
	case len(t.Payload) == 0:
		return fmt.Errorf("%w: task %s/%s has no payload", ErrMalformed, t.Run, t.ID)
	case !json.Valid(t.Payload):
		return fmt.Errorf("%w: task %s/%s: payload is not JSON", ErrMalformed, t.Run, t.ID)
	}
	if t.Dataset != nil {
		if err := t.Dataset.check(); err != nil {
			return fmt.Errorf("%w: task %s/%s: %v", ErrMalformed, t.Run, t.ID, err)
		}
	}
	return nil
}

// Check reports the first field of r that is out of range.
func (r *Result) Check() error {
	switch {
	case !idPattern.MatchString(r.Run):
		return fmt.Errorf("%w: result run %q: want 1 to 64 letters, digits, '-' or '_'", ErrMalformed, clip(r.Run))
	case !idPattern.MatchString(r.Task):
		return fmt.Errorf("%w: result task %q: want 1 to 64 letters, digits, '-' or '_'", ErrMalformed, clip(r.Task))
	case r.Kind != "" && !kindPattern.MatchString(r.Kind), r.Kind == "" && r.Status != StatusFailed:
		return fmt.Errorf("%w: result kind %q", ErrMalformed, clip(r.Kind))
	case r.Status == StatusDone && (len(r.Output) == 0 || !json.Valid(r.Output)):
		return fmt.Errorf("%w: result %s/%s: done without JSON output", ErrMalformed, r.Run, r.Task)
	case r.Status == StatusFailed && r.Error == "":
		return fmt.Errorf("%w: result %s/%s: failed without a reason", ErrMalformed, r.Run, r.Task)
	case r.Status != StatusDone && r.Status != StatusFailed:
		return fmt.Errorf("%w: result %s/%s: status %q, want %q or %q", ErrMalformed, r.Run, r.Task, clip(r.Status), StatusDone, StatusFailed)
	case len(r.Error) > MaxErrorBytes:
		return fmt.Errorf("%w: result %s/%s: reason of %d bytes, limit %d", ErrMalformed, r.Run, r.Task, len(r.Error), MaxErrorBytes)
	case r.Attempt < 0 || r.Elapsed < 0:
		return fmt.Errorf("%w: result %s/%s: negative attempt or time", ErrMalformed, r.Run, r.Task)
	}
	return nil
}

// EncodeTask checks t and returns its envelope.
func EncodeTask(t Task) ([]byte, error) {
	t.Version = envelopeVersion
	if err := t.Check(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxTaskBytes {
		return nil, fmt.Errorf("%w: task %s/%s is %d bytes, limit %d: pass large inputs as blobs", ErrMalformed, t.Run, t.ID, len(b), MaxTaskBytes)
	}
	return b, nil
}

// DecodeTask reads a task envelope, refusing one that is too large, not
// exactly one JSON object of the envelope's fields, of another version,
// or with a field out of range.
func DecodeTask(b []byte) (*Task, error) {
	var t Task
	if err := decodeStrict(b, MaxTaskBytes, "task", &t); err != nil {
		return nil, err
	}
	if t.Version != envelopeVersion {
		return nil, fmt.Errorf("%w: task envelope version %d, this worker reads %d", ErrMalformed, t.Version, envelopeVersion)
	}
	return &t, t.Check()
}

// EncodeResult checks r and returns its envelope; a reason longer than
// MaxErrorBytes is cut.
func EncodeResult(r Result) ([]byte, error) {
	r.Version = envelopeVersion
	if len(r.Error) > MaxErrorBytes {
		r.Error = r.Error[:MaxErrorBytes-3] + "..."
	}
	if err := r.Check(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxResultBytes {
		return nil, fmt.Errorf("%w: result %s/%s is %d bytes, limit %d: return large outputs as blobs", ErrMalformed, r.Run, r.Task, len(b), MaxResultBytes)
	}
	return b, nil
}

// DecodeResult reads a result envelope with the checks of DecodeTask.
func DecodeResult(b []byte) (*Result, error) {
	var r Result
	if err := decodeStrict(b, MaxResultBytes, "result", &r); err != nil {
		return nil, err
	}
	if r.Version != envelopeVersion {
		return nil, fmt.Errorf("%w: result envelope version %d, this coordinator reads %d", ErrMalformed, r.Version, envelopeVersion)
	}
	return &r, r.Check()
}

func decodeStrict(b []byte, limit int, what string, v any) error {
	if len(b) > limit {
		return fmt.Errorf("%w: %s of %d bytes, limit %d", ErrMalformed, what, len(b), limit)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: %s: data after the JSON object", ErrMalformed, what)
	}
	return nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
