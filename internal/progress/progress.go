// Package progress draws a one-line progress bar with rate and ETA for the
// long jobs of nas (profiling, training, search). It draws only on a
// terminal; writing to a file or a pipe, or with quiet set (--json), it
// stays silent so machine-readable output is not mixed with it, and still
// counts, so that its Elapsed and ETA serve log lines instead.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Bar is a progress bar for total units of work. Its methods are safe for
// concurrent use. The zero value is not usable; call New.
type Bar struct {
	mu      sync.Mutex
	w       io.Writer
	enabled bool
	label   string
	unit    string
	total   int
	done    int
	start   time.Time
	startN  int // units already done when the bar started (resumed work)
	last    time.Time
	status  string
	now     func() time.Time
	width   int
}

// New returns a bar writing to w. It draws only when w is a terminal and
// quiet is false. Done units resumed from an earlier run are given as
// already so that the rate and ETA count only this run's work.
func New(w io.Writer, label, unit string, total, already int, quiet bool) *Bar {
	b := &Bar{w: w, label: label, unit: unit, total: total, done: already, startN: already, now: time.Now, width: 80}
	if !quiet && IsTerminal(w) {
		f := w.(*os.File)
		b.enabled = true
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 20 {
			b.width = cols
		}
	}
	b.start = b.now()
	return b
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Total is the number of units the bar runs to.
func (b *Bar) Total() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}

// Elapsed is the time since the bar started.
func (b *Bar) Elapsed() time.Duration { return b.now().Sub(b.start) }

// ETA estimates the time left from this run's rate so far; ok is false
// before a unit is done.
func (b *Bar) ETA() (eta time.Duration, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eta(b.now())
}

func (b *Bar) eta(t time.Time) (time.Duration, bool) {
	if b.done >= b.total {
		return 0, true
	}
	n := b.done - b.startN
	if n <= 0 {
		return 0, false
	}
	per := float64(t.Sub(b.start)) / float64(n)
	return time.Duration(per * float64(b.total-b.done)), true
}

// Enabled reports whether the bar draws anything.
func (b *Bar) Enabled() bool { return b.enabled }

// Add records n more units done and redraws (at most ten times a second).
func (b *Bar) Add(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	b.draw(false)
}

// SetTotal changes the number of units the bar runs to, for work that
// grows as it goes (measurements repeated until they agree).
func (b *Bar) SetTotal(total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total = total
	b.draw(false)
}

// Status sets a short text shown after the counts (e.g. "loss 0.412").
func (b *Bar) Status(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.status = s
	b.draw(false)
}

// Finish draws the final state and ends the line.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.draw(true)
	if b.enabled {
		fmt.Fprintln(b.w)
	}
}

func (b *Bar) draw(force bool) {
	if !b.enabled {
		return
	}
	t := b.now()
	if !force && t.Sub(b.last) < 100*time.Millisecond && b.done < b.total {
		return
	}
	b.last = t
	fmt.Fprint(b.w, "\r"+b.line(t))
}

// line renders the bar as of time t.
func (b *Bar) line(t time.Time) string {
	elapsed := t.Sub(b.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(b.done-b.startN) / elapsed
	}
	eta := "--"
	if d, ok := b.eta(t); ok && (rate > 0 || b.done >= b.total) {
		eta = formatDuration(d)
	}
	frac := 0.0
	if b.total > 0 {
		frac = min(1, float64(b.done)/float64(b.total))
	}
	right := fmt.Sprintf(" %d/%d %s %.3g %s/s ETA %s", b.done, b.total, b.unit, rate, b.unit, eta)
	if b.status != "" {
		right += " " + b.status
	}
	left := b.label + " "
	barW := b.width - len(left) - len(right) - 3
	if barW < 10 {
		barW = 10
	}
	filled := int(frac * float64(barW))
	line := left + "[" + strings.Repeat("=", filled) + strings.Repeat(" ", barW-filled) + "]" + right
	if len(line) > b.width-1 {
		line = line[:b.width-1]
	}
	return line
}

func formatDuration(d time.Duration) string {
	d = d.Round(time.Second)
	h := int(d.Hours())
	m := int(d.Minutes()) % 60
	s := int(d.Seconds()) % 60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}
