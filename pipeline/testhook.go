package pipeline

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// KillAtEnv names the environment variable of the crash tests' hook: a
// process whose environment holds NAS_TEST_KILL_AT=EVENT:N[:SIGNAL] sends
// itself SIGNAL (kill, the default, or int) when EVENT happens for the Nth
// time in it, so that a test stops a run at a known point rather than
// after a sleep. The events:
//
//	supernet  a step of the training of a search's supernet ends
//	trial     the scoring (supernet) or proxy training of a search
//	          candidate starts
//	final     the final training of a searched network starts
//	baseline  the final training of a baseline starts
//	proposal  the short fine-tune of a NetAdapt proposal starts
//	long      NetAdapt's long fine-tune starts (the fine-tune of the long
//	          step count, when it differs from the short one)
//
// With int (SIGINT, as Ctrl-C sends), the hook returns once the run's
// context is cancelled, so the step that follows sees the stop. The
// variable is read once; nothing else reads it.
const KillAtEnv = "NAS_TEST_KILL_AT"

// killPoint is a parsed KillAtEnv.
type killPoint struct {
	event string
	n     int
	sig   os.Signal
}

var (
	killAt = sync.OnceValue(func() *killPoint {
		v := os.Getenv(KillAtEnv)
		if v == "" {
			return nil
		}
		kp, err := parseKillPoint(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s=%s: %v\n", KillAtEnv, v, err)
			os.Exit(2)
		}
		return kp
	})
	killMu    sync.Mutex
	killSeen  = map[string]int{}
	killWait  = 30 * time.Second // how long an int waits for the cancellation
	killEvent = []string{"supernet", "trial", "final", "baseline", "proposal", "long"}
)

// parseKillPoint reads EVENT:N[:SIGNAL].
func parseKillPoint(v string) (*killPoint, error) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return nil, fmt.Errorf("want EVENT:N[:kill|int]")
	}
	kp := &killPoint{event: parts[0], sig: os.Kill}
	found := false
	for _, e := range killEvent {
		found = found || e == kp.event
	}
	if !found {
		return nil, fmt.Errorf("event %q: want one of %s", kp.event, strings.Join(killEvent, ", "))
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil || n < 1 {
		return nil, fmt.Errorf("N %q: want a count from 1", parts[1])
	}
	kp.n = n
	if len(parts) == 3 {
		switch parts[2] {
		case "kill":
		case "int":
			kp.sig = os.Interrupt
		default:
			return nil, fmt.Errorf("signal %q: want kill or int", parts[2])
		}
	}
	return kp, nil
}

// checkpoint marks an event of the run for the crash tests' hook
// (KillAtEnv); without it, it does nothing.
func checkpoint(ctx context.Context, event string) {
	kp := killAt()
	if kp == nil || kp.event != event {
		return
	}
	killMu.Lock()
	killSeen[event]++
	hit := killSeen[event] == kp.n
	killMu.Unlock()
	if !hit {
		return
	}
	p, err := os.FindProcess(os.Getpid())
	if err == nil {
		err = p.Signal(kp.sig)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: cannot signal this process: %v\n", KillAtEnv, err)
		os.Exit(4)
	}
	// SIGKILL ends the process before the wait ends; SIGINT cancels ctx
	// (signal.NotifyContext) soon after it is sent.
	select {
	case <-ctx.Done():
	case <-time.After(killWait):
		fmt.Fprintf(os.Stderr, "%s: %s %d: the run's context was not cancelled within %v\n", KillAtEnv, event, kp.n, killWait)
		os.Exit(4)
	}
}
