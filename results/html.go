package results

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"strconv"
)

// WriteHTML writes the report as one self-contained HTML page: the run's
// configuration and counts, the best network, the plot (svg, as WriteSVG
// wrote it, inline), the front, the baselines, and every trial in a table
// that sorts by any column and filters by text, with the page's own
// JavaScript. It loads nothing from elsewhere. Every string from the store
// goes through html/template's escaping.
func (r *Report) WriteHTML(w io.Writer, svg []byte) error {
	var buf bytes.Buffer
	if err := reportPage.Execute(&buf, htmlData{Report: r, SVG: inlineSVG(svg), TrialColumns: trialColumns}); err != nil {
		return fmt.Errorf("report page: %w", err)
	}
	_, err := buf.WriteTo(w)
	return err
}

type htmlData struct {
	*Report
	SVG          template.HTML
	TrialColumns []trialColumn
}

// trialColumn is a heading of the trial table.
type trialColumn struct {
	Label  string
	Text   bool   // sorts as text, else by the cells' data-v numbers
	Sorted bool   // the rows come sorted by it, ascending
	Title  string // the heading's tooltip, when the label needs one
}

// testAccTitle explains the test accuracy column, which is empty for most
// trials.
const testAccTitle = "Test-split accuracy after the run's final training (nas search --final), evaluated once. " +
	"Only the networks that had a final training have one; the cell is empty for the others."

// trialColumns are the columns of the trial table, in the order of its
// cells.
var trialColumns = []trialColumn{
	{Label: "trial", Sorted: true},
	{Label: "status", Text: true},
	{Label: "latency (ms)", Title: "measured where there is a measurement, else predicted by the latency table (see source)"},
	{Label: "source", Text: true},
	{Label: "val. acc. (%)", Title: "validation accuracy after proxy training, the accuracy the search ranks by"},
	{Label: "test acc. (%)", Title: testAccTitle},
	{Label: "reward"},
	{Label: "params"},
	{Label: "MACs"},
	{Label: "wall (s)"},
	{Label: "front", Text: true},
	{Label: "arch", Text: true},
	{Label: "reason", Text: true},
}

// inlineSVG drops what precedes the <svg element (the XML declaration and
// a comment), which HTML does not take. The SVG is trusted markup: the plot
// package escapes every text it draws.
func inlineSVG(svg []byte) template.HTML {
	if i := bytes.Index(svg, []byte("<svg")); i >= 0 {
		svg = svg[i:]
	}
	return template.HTML(svg)
}

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct": func(v float64) string { return strconv.FormatFloat(100*v, 'f', 2, 64) },
	"optpct": func(v *float64) string {
		if v == nil {
			return ""
		}
		return strconv.FormatFloat(100**v, 'f', 2, 64)
	},
	"testAccTitle": func() string { return testAccTitle },
	"ms":           func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) },
	"num":          func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) },
	"reward":       func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) },
	"group":        groupThousands,
	"secs":         func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"time":         func(v interface{ Format(string) string }) string { return v.Format("2006-01-02 15:04:05 MST") },
}).Parse(reportTemplate))

// groupThousands writes n with thousands separators: 3,504,872.
func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	start := 0
	if n < 0 {
		start = 1
	}
	var b []byte
	for i := range len(s) {
		if i > start && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	return string(b)
}

const reportTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nas report {{.Run.ID}}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
dl.config { display: grid; grid-template-columns: max-content 1fr; gap: .1em 1em; }
dl.config dt { color: #666; }
dl.config dd { margin: 0; }
code.arch { display: block; white-space: pre-wrap; overflow-wrap: anywhere; background: #f5f5f5; padding: .5em; }
figure { margin: 0; }
figure svg { width: 100%; height: auto; max-width: 1150px; }
figure svg .marks circle:hover { stroke: #000; stroke-width: 1.5; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: .2em .6em; border-bottom: 1px solid #eee; text-align: right; vertical-align: top; }
th { background: #fafafa; position: sticky; top: 0; }
th button { font: inherit; color: inherit; background: none; border: 0; padding: 0; margin: 0; cursor: pointer; text-align: inherit; }
th button:hover { text-decoration: underline; }
th button:focus-visible { outline: 2px solid #0072b2; outline-offset: 2px; }
th button .sort::after { content: "\2195"; color: #bbb; padding-left: .25em; }
th[aria-sort="ascending"] button .sort::after { content: "\25B2"; color: inherit; }
th[aria-sort="descending"] button .sort::after { content: "\25BC"; color: inherit; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
td.text, th.text { text-align: left; }
td.arch { font-family: ui-monospace, monospace; font-size: .85em; overflow-wrap: anywhere; min-width: 24em; max-width: 48em; }
tr.front td { background: #eef6fc; }
tr.best td { background: #dcecf8; font-weight: 600; }
tr.failed td, tr.skipped td { color: #888; }
.muted { color: #666; }
input#filter { margin: .5em 0; padding: .3em; width: 24em; }
</style>
</head>
<body>
<h1>nas report: {{.Run.ID}}</h1>
<p class="muted">{{.Run.Status}} · created {{time .Run.Created}} · updated {{time .Run.Updated}}</p>

<dl class="config">
<dt>strategy</dt><dd>{{.Run.Config.Strategy}}</dd>
<dt>seed</dt><dd>{{.Run.Config.Seed}}</dd>
<dt>latency target</dt><dd>{{if gt .Run.Config.TargetMs 0.0}}{{num .Run.Config.TargetMs}} ms{{else}}none{{end}}</dd>
{{with .Run.Config.Space}}<dt>space</dt><dd>{{.}}</dd>{{end}}
{{with .Run.Config.Dataset}}<dt>dataset</dt><dd>{{.}}</dd>{{end}}
{{with .Run.Config.LatencyTable}}<dt>latency table</dt><dd>{{.}}</dd>{{end}}
{{with .Run.Config.Device}}<dt>device</dt><dd>{{.}}</dd>{{end}}
<dt>trials</dt><dd>{{.Summary.Trials}}: {{.Summary.OK}} ok, {{.Summary.Failed}} failed, {{.Summary.Skipped}} skipped{{if gt .Run.Config.TargetMs 0.0}}; {{.Summary.WithinTarget}} ok within the target{{end}}; {{secs .Summary.WallSeconds}} s in all</dd>
</dl>

<h2>Best network</h2>
{{with .Best}}
<p>Trial {{.Seq}}: reward {{reward .Reward}}, validation accuracy {{pct .ValAccuracy}}% (proxy training), latency {{ms .LatencyMs}} ms ({{.LatencySource}}), {{group .Params}} params, {{group .MACs}} MACs{{if .TestAccuracy}}; {{with .TestAccuracyFrom}}its final training, {{.}}, reached{{else}}after its final training, it reached{{end}} a test accuracy of {{optpct .TestAccuracy}}%{{end}}.</p>
<code class="arch">{{.Arch}}</code>
{{else}}
<p>No trial has trained yet, so there is no best network.</p>
{{end}}

<h2>Accuracy against latency</h2>
<figure>{{.SVG}}</figure>

<h2>Pareto front ({{len .Front}})</h2>
{{if .Front}}
<table>
<thead><tr><th>trial</th><th>latency (ms)</th><th>val. acc. (%)</th><th title="{{testAccTitle}}">test acc. (%)</th><th>reward</th><th>params</th><th>MACs</th><th class="text">arch</th></tr></thead>
<tbody>
{{range .Front}}<tr><td>{{.Seq}}</td><td>{{ms .LatencyMs}}</td><td>{{pct .ValAccuracy}}</td><td{{with .TestAccuracyFrom}} title="final training {{.}}"{{end}}>{{optpct .TestAccuracy}}</td><td>{{reward .Reward}}</td><td>{{group .Params}}</td><td>{{group .MACs}}</td><td class="text arch">{{.Arch}}</td></tr>
{{end}}</tbody>
</table>
{{else}}<p>Empty: no trial has trained yet.</p>{{end}}

{{if .Baselines}}
<h2>Baselines</h2>
<table>
<thead><tr><th class="text">network</th><th>latency (ms)</th><th>val. acc. (%)</th><th>test acc. (%)</th><th>params</th><th>MACs</th></tr></thead>
<tbody>
{{range .Baselines}}<tr><td class="text">{{.Name}}</td><td>{{ms .LatencyMs}}</td><td>{{pct .Accuracy}}</td><td>{{optpct .TestAccuracy}}</td><td>{{group .Params}}</td><td>{{group .MACs}}</td></tr>
{{end}}</tbody>
</table>
{{end}}

<h2>All trials ({{len .Trials}})</h2>
<p class="muted">Click a column heading, or move to it with Tab and press Enter or Space, to sort by that column; again to reverse. Type in the box to show only the rows that contain the text. Rows on the front are shaded, the best darker.</p>
<input id="filter" type="search" placeholder="filter: ok, failed, ir_k5, ..." aria-label="filter the trials">
<table id="trials">
<caption class="sr-only">Every trial of the run. Column headings are buttons that sort the table.</caption>
<thead><tr>
{{range .TrialColumns}}<th scope="col"{{if .Text}} class="text"{{end}}{{if .Sorted}} aria-sort="ascending"{{end}}><button type="button" data-type="{{if .Text}}text{{else}}num{{end}}"{{with .Title}} title="{{.}}"{{end}}>{{.Label}}<span class="sort" aria-hidden="true"></span></button></th>
{{end}}</tr></thead>
<tbody>
{{$best := .Best}}{{range .Trials}}<tr class="{{.Status}}{{if .OnFront}} front{{end}}{{if $best}}{{if eq .Seq $best.Seq}} best{{end}}{{end}}">
<td data-v="{{.Seq}}">{{.Seq}}</td><td class="text">{{.Status}}</td><td data-v="{{num .LatencyMs}}">{{ms .LatencyMs}}</td><td class="text">{{.LatencySource}}</td>
{{if eq .Status "ok"}}<td data-v="{{num .ValAccuracy}}">{{pct .ValAccuracy}}</td>{{else}}<td data-v="">&ndash;</td>{{end}}
<td data-v="{{with .TestAccuracy}}{{num .}}{{end}}"{{with .TestAccuracyFrom}} title="final training {{.}}"{{end}}>{{optpct .TestAccuracy}}</td>
<td data-v="{{num .Reward}}">{{reward .Reward}}</td><td data-v="{{.Params}}">{{group .Params}}</td><td data-v="{{.MACs}}">{{group .MACs}}</td><td data-v="{{num .WallSeconds}}">{{secs .WallSeconds}}</td>
<td class="text">{{if .OnFront}}front{{end}}</td><td class="text arch">{{.Arch}}</td><td class="text">{{.Reason}}</td></tr>
{{end}}</tbody>
</table>

<script>
(function () {
  "use strict";
  // The sortable table of the WAI-ARIA Authoring Practices: each heading
  // holds a button (reached with Tab, pressed with Enter or Space), and
  // the heading of the column the rows are sorted by carries aria-sort.
  var table = document.getElementById("trials");
  var body = table.tBodies[0];
  var heads = table.tHead.rows[0].cells;
  function key(row, col, numeric) {
    var cell = row.cells[col];
    if (!numeric) { return cell.textContent; }
    var v = cell.getAttribute("data-v");
    return v === "" || v === null ? NaN : parseFloat(v);
  }
  function sortBy(col) {
    var th = heads[col];
    var numeric = th.querySelector("button").getAttribute("data-type") === "num";
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    var order = new Map(rows.map(function (r) { return [r, Number(r.cells[0].getAttribute("data-v"))]; }));
    rows.sort(function (a, b) {
      var x = key(a, col, numeric), y = key(b, col, numeric);
      var tie = order.get(a) - order.get(b); // equal keys keep the trial order
      if (numeric) {
        if (isNaN(x) || isNaN(y)) { return (isNaN(x) - isNaN(y)) || tie; } // blanks last
        return dir * (x - y) || tie;
      }
      return dir * x.localeCompare(y) || tie;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  for (var i = 0; i < heads.length; i++) {
    (function (col) {
      heads[col].querySelector("button").addEventListener("click", function () { sortBy(col); });
    })(i);
  }
  document.getElementById("filter").addEventListener("input", function (e) {
    var q = e.target.value.toLowerCase();
    Array.prototype.forEach.call(body.rows, function (r) {
      r.hidden = q !== "" && r.textContent.toLowerCase().indexOf(q) < 0;
    });
  });
})();
</script>
</body>
</html>
`
