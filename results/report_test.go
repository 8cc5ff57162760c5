package results

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"nas/space"
)

// hostileArch is an arch string a broken or malicious writer could store:
// it must come out of every report escaped, never as markup.
const hostileArch = `in1x28x28 cls10 | <script>alert("x&y")</script> | linear_o10`

// fakeTrials returns n trials of a search on a 1x28x28 space, drawn from
// rng: accuracy rises with latency with noise; every 9th trial failed,
// every 11th skipped. The arch strings are real, so the best one decodes.
func fakeTrials(t testing.TB, rng *rand.Rand, n int) []Trial {
	t.Helper()
	var trials []Trial
	for i := 1; i <= n; i++ {
		c1, c2, k, e := 8+8*rng.IntN(3), 16+8*rng.IntN(4), []int{3, 5, 7}[rng.IntN(3)], 2+rng.IntN(5)
		arch := fmt.Sprintf("in1x28x28 cls10 | conv_o%d_k3_s2_ahswish | ir_e%d_o%d_k%d_s2 | gap | linear_o10", c1, e, c2, k)
		a, err := space.ParseArch(arch)
		require.NoError(t, err)
		cost, err := a.Cost()
		require.NoError(t, err)
		lat := 0.5 + float64(cost.MACs)/1e6*(0.8+0.4*rng.Float64())
		acc := math.Min(0.99, 0.80+0.12*(1-math.Exp(-lat))+0.02*rng.NormFloat64())
		tr := Trial{Arch: a.String(), Params: cost.Params, MACs: cost.MACs, PredictedLatencyMs: lat,
			ValAccuracy: acc, Reward: acc * math.Pow(lat/2, -0.15), Status: TrialOK, Seed: uint64(i),
			WallTime: time.Duration(20+rng.IntN(40)) * time.Second}
		if i%4 == 0 {
			m := lat * (0.9 + 0.2*rng.Float64())
			tr.MeasuredLatencyMs = &m
		}
		switch {
		case i%9 == 0:
			tr.Status, tr.Reason, tr.ValAccuracy, tr.Reward = TrialFailed, "loss became NaN at epoch 2", 0, 0
		case i%11 == 0:
			tr.Status, tr.Reason, tr.ValAccuracy, tr.Reward = TrialSkipped, "over the hard latency limit", 0, 0
		}
		trials = append(trials, tr)
	}
	return trials
}

var testBaselines = []Baseline{
	{Name: "mobilenet_v3_small", LatencyMs: 1.9, Accuracy: 0.905, Params: 1_528_106, MACs: 2_810_000},
	{Name: "squeezenet1_1", LatencyMs: 2.6, Accuracy: 0.89, Params: 722_496, MACs: 9_900_000},
}

// storeWith makes a store with one run holding trials and baselines.
func storeWith(t *testing.T, cfg RunConfig, trials []Trial, baselines []Baseline) (*Store, RunID) {
	t.Helper()
	s := openTest(t, filepath.Join(t.TempDir(), "nas-results.db"))
	id, err := s.CreateRun(cfg)
	require.NoError(t, err)
	for _, tr := range trials {
		require.NoError(t, s.AppendTrial(id, tr, nil))
	}
	if len(baselines) > 0 {
		require.NoError(t, s.AddBaselines(id, baselines...))
	}
	return s, id
}

func okTrial(seq uint64, lat, acc, reward float64) Trial {
	return Trial{Seq: seq, Arch: fmt.Sprintf("a%d", seq), PredictedLatencyMs: lat, ValAccuracy: acc, Reward: reward, Status: TrialOK}
}

func TestNewReport(t *testing.T) {
	measured := 0.5
	fast := okTrial(3, 4, 0.7, 0.70)
	fast.MeasuredLatencyMs = &measured // predicted 4 ms, measured 0.5: the front uses 0.5
	trials := []Trial{
		okTrial(1, 1, 0.80, 0.80),
		okTrial(2, 2, 0.75, 0.70), // dominated by 1
		fast,
		okTrial(4, 3, 0.90, 0.85),
		{Seq: 5, Arch: "a5", PredictedLatencyMs: 0.1, Status: TrialFailed, Reason: "diverged"},
		{Seq: 6, Arch: "a6", PredictedLatencyMs: 9, Status: TrialSkipped, Reason: "too slow"},
		okTrial(7, 3, 0.90, 0.85), // equal to 4: 4 stays best (earliest)
		okTrial(8, 2.5, 0.95, 0.84),
	}
	run := Run{ID: 7, Status: RunStopped, Config: RunConfig{Strategy: "random", TargetMs: 2.5}}
	r := NewReport(run, trials, []Baseline{testBaselines[1], testBaselines[0]})

	require.Equal(t, "run-7", r.Run.ID)
	require.Equal(t, Summary{Trials: 8, OK: 6, Failed: 1, Skipped: 1, WithinTarget: 4, FrontSize: 3}, r.Summary)
	var front []uint64
	for _, row := range r.Front {
		front = append(front, row.Seq)
	}
	require.Equal(t, []uint64{3, 1, 8}, front, "2 is dominated by 1; 4 and 7 (3 ms, 90%) by 8 (2.5 ms, 95%)")
	require.NotNil(t, r.Best)
	require.Equal(t, uint64(8), r.Best.Seq, "within the 2.5 ms target first (4 and 7, of higher reward, are predicted at 3 ms), then the highest reward")
	noTarget := NewReport(Run{ID: 8, Config: RunConfig{Strategy: "random"}}, trials, nil)
	require.Equal(t, uint64(4), noTarget.Best.Seq, "without a target: the highest reward, the earliest of equals")
	for _, row := range r.Trials {
		require.Equal(t, slices.Contains(front, row.Seq), row.OnFront, "trial %d", row.Seq)
	}
	require.Equal(t, "measured", r.Trials[2].LatencySource)
	require.Equal(t, 0.5, r.Trials[2].LatencyMs)
	require.Equal(t, "predicted", r.Trials[0].LatencySource)
	require.Equal(t, []string{"mobilenet_v3_small", "squeezenet1_1"}, []string{r.Baselines[0].Name, r.Baselines[1].Name}, "fastest first")
}

func TestNewReportEmpty(t *testing.T) {
	r := NewReport(Run{ID: 1, Status: RunRunning, Config: RunConfig{Strategy: "rl"}}, nil, nil)
	require.Nil(t, r.Best)
	var buf bytes.Buffer
	require.NoError(t, r.WriteJSON(&buf))
	var m map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &m))
	require.Equal(t, []any{}, m["front"], "empty lists are [], not null")
	require.Equal(t, []any{}, m["trials"])
	require.Equal(t, []any{}, m["baselines"])
	require.Nil(t, m["best"])
	_, err := r.BestArch()
	require.ErrorContains(t, err, "no trial trained")
}

func TestWriteDir(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	trials := fakeTrials(t, rng, 60)
	trials = append(trials, Trial{Arch: hostileArch, PredictedLatencyMs: 1.2, Status: TrialFailed, Reason: `shape error at <layer 1> & "beyond"`})
	baselines := append(slices.Clone(testBaselines), Baseline{Name: `tiny<net> & "co"`, LatencyMs: 1.1, Accuracy: 0.85})
	cfg := RunConfig{Strategy: "evolution", Seed: 42, TargetMs: 2.0, Space: "mbconv-tiny", Dataset: "fashion-mnist"}
	s, id := storeWith(t, cfg, trials, baselines)
	r, err := s.Report(id)
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "runs", id.String())
	paths, err := r.WriteDir(dir)
	require.NoError(t, err)
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	require.ElementsMatch(t, []string{FileReport, FileTrials, FilePlotSVG, FilePlotPNG, FileHTML, FileBestJSON, FileBestArch}, names)
	left, err := filepath.Glob(filepath.Join(dir, ".*"))
	require.NoError(t, err)
	require.Empty(t, left, "no temporary files left behind")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return b
	}

	t.Run("report.json", func(t *testing.T) {
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(read(FileReport), &m))
		require.ElementsMatch(t, []string{"run", "summary", "best", "front", "baselines", "trials"}, keys(m))
		var back Report
		require.NoError(t, json.Unmarshal(read(FileReport), &back))
		require.Equal(t, r.Summary, back.Summary)
		require.Len(t, back.Trials, len(trials))
		require.Equal(t, r.Front, back.Front)
		var row map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(m["best"], &row))
		for _, k := range []string{"seq", "status", "arch", "params", "macs", "latency_ms", "latency_source", "predicted_latency_ms", "val_accuracy", "reward", "on_front", "seed", "wall_s"} {
			require.Contains(t, row, k)
		}
	})

	t.Run("front", func(t *testing.T) {
		// The front against its definition: ok trials no other ok trial dominates.
		var want []uint64
		for _, a := range r.Trials {
			if a.Status != TrialOK {
				continue
			}
			dominated := false
			for _, b := range r.Trials {
				if b.Status == TrialOK && (Point{b.LatencyMs, b.ValAccuracy}).dominates(Point{a.LatencyMs, a.ValAccuracy}) {
					dominated = true
				}
			}
			if !dominated {
				want = append(want, a.Seq)
			}
		}
		var got []uint64
		for i, row := range r.Front {
			got = append(got, row.Seq)
			if i > 0 {
				require.Greater(t, row.LatencyMs, r.Front[i-1].LatencyMs, "fastest first")
				require.Greater(t, row.ValAccuracy, r.Front[i-1].ValAccuracy)
			}
		}
		require.ElementsMatch(t, want, got)
		require.GreaterOrEqual(t, len(got), 3, "a front worth drawing")
	})

	t.Run("trials.csv", func(t *testing.T) {
		recs, err := csv.NewReader(bytes.NewReader(read(FileTrials))).ReadAll()
		require.NoError(t, err)
		require.Equal(t, CSVHeader, recs[0])
		require.Len(t, recs, 1+len(trials))
		last := recs[len(recs)-1]
		require.Equal(t, hostileArch, last[2], "CSV quoting keeps the string whole")
		require.Equal(t, "failed", last[1])
	})

	t.Run("best", func(t *testing.T) {
		a, err := space.ParseArchJSON(read(FileBestJSON))
		require.NoError(t, err)
		require.Equal(t, r.Best.Arch+"\n", string(read(FileBestArch)))
		require.Equal(t, r.Best.Arch, a.String())
		for _, tr := range r.Trials {
			if tr.Status == TrialOK {
				require.LessOrEqual(t, tr.Reward, r.Best.Reward)
			}
		}
	})

	t.Run("pareto.png", func(t *testing.T) {
		png := read(FilePlotPNG)
		require.True(t, bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")))
		require.Greater(t, len(png), 20_000, "a drawn plot, not a blank page")
	})

	t.Run("pareto.svg", func(t *testing.T) {
		svg := read(FilePlotSVG)
		texts := xmlTexts(t, svg)
		all := strings.Join(texts, "\n")
		for _, want := range []string{"latency (ms", "validation accuracy (%)", "Pareto front", "target 2 ms", "mobilenet_v3_small", `tiny<net> & "co"`, "run-1"} {
			require.Contains(t, all, want)
		}
	})

	t.Run("report.html", func(t *testing.T) {
		page := string(read(FileHTML))
		require.True(t, strings.HasPrefix(page, "<!DOCTYPE html>"))
		require.NotContains(t, page, "<script>alert", "the hostile arch is escaped")
		require.Contains(t, page, template.HTMLEscapeString(hostileArch))
		require.Contains(t, page, template.HTMLEscapeString(`shape error at <layer 1> & "beyond"`))
		require.Contains(t, page, "tiny&lt;net&gt; &amp; &#34;co&#34;")
		require.Equal(t, len(trials), strings.Count(page, `<tr class="`), "one row per trial")
		require.Equal(t, 8*len(trials), strings.Count(page, `<td data-v="`), "eight sortable numeric cells a row")
		for _, tr := range r.Trials {
			if tr.Status == TrialOK {
				require.Contains(t, page, template.HTMLEscapeString(tr.Arch))
			}
		}
		require.Contains(t, page, "<svg")
		require.NotContains(t, page, "<?xml")
		for _, external := range []string{"src=\"http", "href=\"http", "@import", "<link"} {
			require.NotContains(t, page, external, "self-contained")
		}
		// The inline SVG is still well-formed XML inside the page.
		start, end := strings.Index(page, "<svg"), strings.LastIndex(page, "</svg>")
		xmlTexts(t, []byte(page[start:end+len("</svg>")]))
	})
}

func TestWriteDirNoTrained(t *testing.T) {
	trials := []Trial{{Arch: "a1", PredictedLatencyMs: 1, Status: TrialFailed, Reason: "diverged"}}
	s, id := storeWith(t, RunConfig{Strategy: "random", TargetMs: 1}, trials, nil)
	r, err := s.Report(id)
	require.NoError(t, err)
	dir := t.TempDir()
	paths, err := r.WriteDir(dir)
	require.NoError(t, err)
	require.Len(t, paths, 5, "no best.json or best.txt")
	_, err = os.Stat(filepath.Join(dir, FileBestJSON))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestBestArchFallsBackToJSON(t *testing.T) {
	a, err := space.ParseArch("in1x28x28 cls10 | conv_o16_k3_s2_ahswish | gap | linear_o10")
	require.NoError(t, err)
	js, err := json.Marshal(a)
	require.NoError(t, err)
	tr := okTrial(1, 1, 0.9, 0.9)
	tr.Arch, tr.ArchJSON = "not an arch string", js
	r := NewReport(Run{ID: 1}, []Trial{tr}, nil)
	got, err := r.BestArch()
	require.NoError(t, err)
	require.Equal(t, a.String(), got.String())

	tr.ArchJSON = nil
	_, err = NewReport(Run{ID: 1}, []Trial{tr}, nil).BestArch()
	require.ErrorContains(t, err, "run-1, best trial 1")
}

// BenchmarkWriteDir measures a report of 1000 trials: table, front, plot
// (SVG and PNG), HTML page and best network.
func BenchmarkWriteDir(b *testing.B) {
	trials := fakeTrials(b, rand.New(rand.NewPCG(1, 2)), 1000)
	for i := range trials {
		trials[i].Seq = uint64(i + 1)
	}
	r := NewReport(Run{ID: 1, Config: RunConfig{Strategy: "evolution", TargetMs: 2}}, trials, testBaselines)
	dir := b.TempDir()
	for b.Loop() {
		if _, err := r.WriteDir(dir); err != nil {
			b.Fatal(err)
		}
	}
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// xmlTexts parses doc as XML to the end and returns its character data.
func xmlTexts(t *testing.T, doc []byte) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var texts []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return texts
		}
		require.NoError(t, err)
		if cd, ok := tok.(xml.CharData); ok && len(bytes.TrimSpace(cd)) > 0 {
			texts = append(texts, string(cd))
		}
	}
}

// finalTrainingRun returns the trials and baselines of a run whose two best
// networks had a final training, stored as baselines the way nas search
// stores them: trial 5 is trial 2's network written in another form,
// trial 6 carries a test accuracy of its own, and a zoo baseline with an
// arch has none.
func finalTrainingRun(t *testing.T) ([]Trial, []Baseline) {
	t.Helper()
	archs := []string{
		"in1x28x28 cls10 | conv_o8_k3_s2 | gap | linear_o10",
		"in1x28x28 cls10 | conv_o16_k3_s2 | gap | linear_o10",
		"in1x28x28 cls10 | conv_o24_k3_s2 | gap | linear_o10",
		"in1x28x28 cls10 | conv_o32_k3_s2 | gap | linear_o10",
		"in1x28x28 cls10|conv_o16_k3_s2|gap|linear_o10", // trial 2's network
		"in1x28x28 cls10 | conv_o40_k3_s2 | gap | linear_o10",
	}
	var trials []Trial
	for i, a := range archs {
		tr := okTrial(uint64(i+1), 0.1*float64(i+1), 0.80+0.01*float64(i), 0.80+0.01*float64(i))
		tr.Arch = a
		trials = append(trials, tr)
	}
	own := 0.87
	trials[5].TestAccuracy = &own
	acc := func(v float64) *float64 { return &v }
	canonical := func(s string) string {
		a, err := space.ParseArch(s)
		require.NoError(t, err)
		return a.String()
	}
	baselines := []Baseline{
		{Name: "searched-1 (final)", Arch: canonical(archs[1]), LatencyMs: 0.21, Accuracy: 0.9, TestAccuracy: acc(0.9125)},
		{Name: "searched-2 (final)", Arch: canonical(archs[3]), LatencyMs: 0.41, Accuracy: 0.89, TestAccuracy: acc(0.885)},
		{Name: "searched-3 (final)", Arch: canonical(archs[5]), LatencyMs: 0.61, Accuracy: 0.89, TestAccuracy: acc(0.5)},
		{Name: "zoo-untested", Arch: canonical(archs[0]), LatencyMs: 0.1, Accuracy: 0.8},
	}
	return trials, baselines
}

func TestReportTestAccuracy(t *testing.T) {
	trials, baselines := finalTrainingRun(t)
	s, id := storeWith(t, RunConfig{Strategy: "evolution", TargetMs: 1}, trials, baselines)
	r, err := s.Report(id)
	require.NoError(t, err)
	type test struct {
		acc  float64
		from string
	}
	got := map[uint64]*test{}
	for _, row := range r.Trials {
		if row.TestAccuracy != nil {
			got[row.Seq] = &test{*row.TestAccuracy, row.TestAccuracyFrom}
		} else {
			require.Empty(t, row.TestAccuracyFrom)
		}
	}
	require.Equal(t, map[uint64]*test{
		2: {0.9125, "searched-1 (final)"},
		4: {0.885, "searched-2 (final)"},
		5: {0.9125, "searched-1 (final)"}, // the same network as trial 2
		6: {0.87, ""},                     // its own, not the baseline's
	}, got)
	require.Equal(t, uint64(6), r.Best.Seq)
	require.Equal(t, 0.87, *r.Best.TestAccuracy, "the best row is the trial's row")

	var buf bytes.Buffer
	require.NoError(t, r.WriteCSV(&buf))
	recs, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	col := slices.Index(recs[0], "test_accuracy")
	var column []string
	for _, rec := range recs[1:] {
		column = append(column, rec[col])
	}
	require.Equal(t, []string{"", "0.9125", "", "0.885", "0.9125", "0.87"}, column)

	buf.Reset()
	require.NoError(t, r.WriteJSON(&buf))
	var back Report
	require.NoError(t, json.Unmarshal(buf.Bytes(), &back))
	require.Equal(t, "searched-2 (final)", back.Trials[3].TestAccuracyFrom)
}

func TestReportUnknownRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nas-results.db")
	s := openTest(t, path)
	_, err := s.Report(99)
	require.ErrorIs(t, err, ErrUnknownRun)
	require.EqualError(t, err, "results store "+path+": no such run run-99: the store holds no runs yet; start one with nas search")

	first, err := s.CreateRun(RunConfig{Strategy: "evolution", TargetMs: 1})
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, s.AppendTrial(first, okTrial(0, 1, 0.8, 0.8+0.01*float64(i)), nil))
	}
	require.NoError(t, s.SetStatus(first, RunFinished))
	second, err := s.CreateRun(RunConfig{Strategy: "rl", TargetMs: 1})
	require.NoError(t, err)
	require.NoError(t, s.AppendTrial(second, okTrial(0, 1, 0.8, 0.8), nil))
	runs, err := s.Runs()
	require.NoError(t, err)

	_, err = s.Report(99)
	require.ErrorIs(t, err, ErrUnknownRun)
	var ue *UnknownRunError
	require.True(t, errors.As(err, &ue))
	require.Equal(t, &UnknownRunError{Path: path, Run: 99, Runs: runs}, ue)
	started := func(r Run) string { return r.Created.UTC().Format("2006-01-02 15:04 UTC") }
	require.Equal(t, strings.Join([]string{
		"results store " + path + ": no such run run-99; it holds 2 runs:",
		"  run-1  finished  started " + started(runs[0]) + "  3 trials",
		"  run-2  running   started " + started(runs[1]) + "  1 trial",
		"report one of them with nas report RUN (run-N, N or latest)",
	}, "\n"), err.Error())

	// A run the store holds is reported as before.
	_, err = s.Report(second)
	require.NoError(t, err)
}
