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
	if err := reportPage.Execute(&buf, htmlData{Report: r, SVG: inlineSVG(svg)}); err != nil {
		return fmt.Errorf("report page: %w", err)
	}
	_, err := buf.WriteTo(w)
	return err
}

type htmlData struct {
	*Report
	SVG template.HTML
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
	"ms":     func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) },
	"num":    func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) },
	"reward": func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) },
	"group":  groupThousands,
	"secs":   func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"time":   func(v interface{ Format(string) string }) string { return v.Format("2006-01-02 15:04:05 MST") },
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
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: .2em .6em; border-bottom: 1px solid #eee; text-align: right; vertical-align: top; }
th { background: #fafafa; position: sticky; top: 0; }
th.sortable { cursor: pointer; user-select: none; }
th[aria-sort="ascending"]::after { content: " \25B2"; }
th[aria-sort="descending"]::after { content: " \25BC"; }
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
<p>Trial {{.Seq}}: reward {{reward .Reward}}, validation accuracy {{pct .ValAccuracy}}%{{with .TestAccuracy}}, test accuracy {{optpct .}}%{{end}}, latency {{ms .LatencyMs}} ms ({{.LatencySource}}), {{group .Params}} params, {{group .MACs}} MACs.</p>
<code class="arch">{{.Arch}}</code>
{{else}}
<p>No trial has trained yet, so there is no best network.</p>
{{end}}

<h2>Accuracy against latency</h2>
<figure>{{.SVG}}</figure>

<h2>Pareto front ({{len .Front}})</h2>
{{if .Front}}
<table>
<thead><tr><th>trial</th><th>latency (ms)</th><th>val. acc. (%)</th><th>reward</th><th>params</th><th>MACs</th><th class="text">arch</th></tr></thead>
<tbody>
{{range .Front}}<tr><td>{{.Seq}}</td><td>{{ms .LatencyMs}}</td><td>{{pct .ValAccuracy}}</td><td>{{reward .Reward}}</td><td>{{group .Params}}</td><td>{{group .MACs}}</td><td class="text arch">{{.Arch}}</td></tr>
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
<p class="muted">Click a column heading to sort by it; type to show only the rows that contain the text. Rows on the front are shaded, the best darker.</p>
<input id="filter" type="search" placeholder="filter: ok, failed, ir_k5, ..." aria-label="filter the trials">
<table id="trials">
<thead><tr>
<th class="sortable" data-type="num">trial</th>
<th class="sortable text" data-type="text">status</th>
<th class="sortable" data-type="num">latency (ms)</th>
<th class="sortable text" data-type="text">source</th>
<th class="sortable" data-type="num">val. acc. (%)</th>
<th class="sortable" data-type="num">test acc. (%)</th>
<th class="sortable" data-type="num">reward</th>
<th class="sortable" data-type="num">params</th>
<th class="sortable" data-type="num">MACs</th>
<th class="sortable" data-type="num">wall (s)</th>
<th class="sortable text" data-type="text">front</th>
<th class="sortable text" data-type="text">arch</th>
<th class="sortable text" data-type="text">reason</th>
</tr></thead>
<tbody>
{{$best := .Best}}{{range .Trials}}<tr class="{{.Status}}{{if .OnFront}} front{{end}}{{if $best}}{{if eq .Seq $best.Seq}} best{{end}}{{end}}">
<td data-v="{{.Seq}}">{{.Seq}}</td><td class="text">{{.Status}}</td><td data-v="{{num .LatencyMs}}">{{ms .LatencyMs}}</td><td class="text">{{.LatencySource}}</td>
{{if eq .Status "ok"}}<td data-v="{{num .ValAccuracy}}">{{pct .ValAccuracy}}</td>{{else}}<td data-v="">&ndash;</td>{{end}}
<td data-v="{{with .TestAccuracy}}{{num .}}{{end}}">{{optpct .TestAccuracy}}</td>
<td data-v="{{num .Reward}}">{{reward .Reward}}</td><td data-v="{{.Params}}">{{group .Params}}</td><td data-v="{{.MACs}}">{{group .MACs}}</td><td data-v="{{num .WallSeconds}}">{{secs .WallSeconds}}</td>
<td class="text">{{if .OnFront}}front{{end}}</td><td class="text arch">{{.Arch}}</td><td class="text">{{.Reason}}</td></tr>
{{end}}</tbody>
</table>

<script>
(function () {
  "use strict";
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
    var numeric = th.getAttribute("data-type") === "num";
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, col, numeric), y = key(b, col, numeric);
      if (numeric) {
        if (isNaN(x) || isNaN(y)) { return isNaN(x) - isNaN(y); } // blanks last
        return dir * (x - y) || a.rowIndex - b.rowIndex;
      }
      return dir * x.localeCompare(y) || a.rowIndex - b.rowIndex;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  for (var i = 0; i < heads.length; i++) {
    (function (col) {
      heads[col].addEventListener("click", function () { sortBy(col); });
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
