package results

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// reportPageOf renders r's HTML page, plot included, and parses it as a
// browser does.
func reportPageOf(t *testing.T, r *Report) *html.Node {
	t.Helper()
	fig, err := r.Plot()
	require.NoError(t, err)
	var svg, page bytes.Buffer
	require.NoError(t, WriteSVG(&svg, fig))
	require.NoError(t, r.WriteHTML(&page, svg.Bytes()))
	doc, err := html.Parse(&page)
	require.NoError(t, err)
	return doc
}

// find returns the elements under n, in document order, for which match
// is true.
func find(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for c := range n.Descendants() {
		if c.Type == html.ElementNode && match(c) {
			out = append(out, c)
		}
	}
	return out
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func hasID(id string) func(*html.Node) bool {
	return func(n *html.Node) bool { v, _ := attr(n, "id"); return v == id }
}

func isAtom(a atom.Atom) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.DataAtom == a }
}

func textOf(n *html.Node) string {
	var b strings.Builder
	for c := range n.Descendants() {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return strings.TrimSpace(b.String())
}

// TestHTMLSortableHeadings checks the trial table against the WAI-ARIA
// sortable table pattern: every column heading is a th with scope col
// holding one button (which the keyboard reaches and presses with Enter or
// Space), the decorative sort arrow is hidden from assistive technology,
// and only the heading of the column the rows are sorted by, the trial
// number on load, carries aria-sort.
func TestHTMLSortableHeadings(t *testing.T) {
	trials := fakeTrials(t, rand.New(rand.NewPCG(3, 3)), 12)
	for i := range trials {
		trials[i].Seq = uint64(i + 1)
	}
	doc := reportPageOf(t, NewReport(Run{ID: 2, Config: RunConfig{Strategy: "random", TargetMs: 2}}, trials, testBaselines))

	tables := find(doc, hasID("trials"))
	require.Len(t, tables, 1)
	table := tables[0]
	require.Len(t, find(table, isAtom(atom.Caption)), 1, "the table has a caption naming it")
	heads := find(table, isAtom(atom.Th))
	require.Len(t, heads, len(trialColumns))
	var sorted []string
	for i, th := range heads {
		scope, _ := attr(th, "scope")
		require.Equal(t, "col", scope)
		buttons := find(th, isAtom(atom.Button))
		require.Len(t, buttons, 1, "heading %d", i)
		b := buttons[0]
		typ, _ := attr(b, "type")
		require.Equal(t, "button", typ)
		require.Equal(t, trialColumns[i].Label, textOf(b), "the button's name is the column's")
		dt, _ := attr(b, "data-type")
		require.Equal(t, map[bool]string{true: "text", false: "num"}[trialColumns[i].Text], dt)
		for _, span := range find(b, isAtom(atom.Span)) {
			hidden, _ := attr(span, "aria-hidden")
			require.Equal(t, "true", hidden, "the sort arrow is decoration")
		}
		if v, ok := attr(th, "aria-sort"); ok {
			require.Equal(t, "ascending", v)
			sorted = append(sorted, textOf(b))
		}
	}
	require.Equal(t, []string{"trial"}, sorted, "aria-sort on the sorted column only")

	// The rows come in the order aria-sort claims, and every row has a cell
	// under every heading.
	var seqs []int
	for _, tr := range find(find(table, isAtom(atom.Tbody))[0], isAtom(atom.Tr)) {
		cells := find(tr, isAtom(atom.Td))
		require.Len(t, cells, len(heads))
		var seq int
		_, err := fmt.Sscan(textOf(cells[0]), &seq)
		require.NoError(t, err)
		seqs = append(seqs, seq)
	}
	require.Len(t, seqs, len(trials))
	require.True(t, slices.IsSorted(seqs))

	// The script sorts through the buttons, and no sortable heading is left
	// without one (the older page made the th itself clickable).
	scripts := find(doc, isAtom(atom.Script))
	require.Len(t, scripts, 1)
	require.Contains(t, textOf(scripts[0]), `querySelector("button").addEventListener("click"`)
	require.Contains(t, textOf(scripts[0]), `setAttribute("aria-sort"`)
}

// TestHTMLTestAccuracy checks that the test accuracy column is filled from
// the final trainings and that its heading says why most cells are empty.
func TestHTMLTestAccuracy(t *testing.T) {
	trials, baselines := finalTrainingRun(t)
	doc := reportPageOf(t, NewReport(Run{ID: 1, Config: RunConfig{Strategy: "evolution"}}, trials, baselines))
	table := find(doc, hasID("trials"))[0]
	heads := find(table, isAtom(atom.Th))
	col := slices.IndexFunc(heads, func(th *html.Node) bool { return textOf(th) == "test acc. (%)" })
	require.GreaterOrEqual(t, col, 0)
	title, _ := attr(find(heads[col], isAtom(atom.Button))[0], "title")
	require.Contains(t, title, "final training")
	require.Contains(t, title, "empty for the others")

	got := map[string]string{}
	tips := map[string]string{}
	for _, tr := range find(find(table, isAtom(atom.Tbody))[0], isAtom(atom.Tr)) {
		cells := find(tr, isAtom(atom.Td))
		got[textOf(cells[0])] = textOf(cells[col])
		tips[textOf(cells[0])], _ = attr(cells[col], "title")
	}
	require.Equal(t, map[string]string{"1": "", "2": "91.25", "3": "", "4": "88.50", "5": "91.25", "6": "87.00"}, got)
	require.Equal(t, "final training searched-1 (final)", tips["2"])
	require.Equal(t, "final training searched-1 (final)", tips["5"], "the same network, written otherwise")
	require.Equal(t, "final training searched-2 (final)", tips["4"])
	require.Empty(t, tips["6"], "a test accuracy stored with the trial is its own")
}

// TestHTMLPlotTooltips checks that every point of the inline plot names its
// trial (or baseline) in a <title>, the SVG tooltip.
func TestHTMLPlotTooltips(t *testing.T) {
	trials := fakeTrials(t, rand.New(rand.NewPCG(5, 5)), 20)
	for i := range trials {
		trials[i].Seq = uint64(i + 1)
	}
	trials = append(trials, Trial{Seq: 21, Arch: hostileArch, PredictedLatencyMs: 1.2, Status: TrialFailed, Reason: "loss <NaN>"})
	r := NewReport(Run{ID: 3, Config: RunConfig{Strategy: "random", TargetMs: 2}}, trials, testBaselines)
	doc := reportPageOf(t, r)

	groups := find(doc, func(n *html.Node) bool { c, _ := attr(n, "class"); return n.Data == "g" && c == "marks" })
	require.Len(t, groups, 1)
	var titles []string
	for _, c := range find(groups[0], func(n *html.Node) bool { return n.Data == "circle" }) {
		ts := find(c, func(n *html.Node) bool { return n.Data == "title" })
		require.Len(t, ts, 1)
		titles = append(titles, textOf(ts[0]))
	}
	require.Len(t, titles, len(trials)+len(testBaselines), "one mark a trial and a baseline")
	for _, row := range r.Trials {
		i := slices.IndexFunc(titles, func(s string) bool {
			return strings.HasPrefix(s, fmt.Sprintf("trial %d,", row.Seq)) || strings.HasPrefix(s, fmt.Sprintf("trial %d\n", row.Seq))
		})
		require.GreaterOrEqual(t, i, 0, "trial %d has a tooltip", row.Seq)
		title := titles[i]
		require.Contains(t, title, row.Arch, "the tooltip holds the arch string, unescaped by the parser")
		require.Contains(t, title, fmt.Sprintf("latency %.3f ms (%s)", row.LatencyMs, row.LatencySource))
		if row.Status == TrialOK {
			require.Contains(t, title, fmt.Sprintf("validation accuracy %.2f%%", 100*row.ValAccuracy))
			require.Contains(t, title, fmt.Sprintf("reward %.4f", row.Reward))
		} else {
			require.Contains(t, title, fmt.Sprintf("%s: %s", row.Status, row.Reason))
		}
		if r.Best != nil && row.Seq == r.Best.Seq {
			require.Contains(t, title, "best reward")
		}
		if row.OnFront {
			require.Contains(t, title, "on the Pareto front")
		}
	}
	for _, b := range testBaselines {
		require.True(t, slices.ContainsFunc(titles, func(s string) bool { return strings.HasPrefix(s, "baseline "+b.Name+"\n") }), b.Name)
	}
}
