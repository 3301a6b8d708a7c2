/* reportgen compare page: the chosen runs side by side, drawn in the browser from the page's JSON block.
 *
 * Contract: <script type="application/json" id="rg-compare-data"> holding
 *   {"runs": [{"run_id", "name", "params": {}, "metrics": {}, "tags": {}, optional "url" (relative link to
 *   the run page)}], "histories": {metric key: a spec from reportgen.charts.history_chart over these runs}}
 * and an element #rg-compare that this script fills (replacing its no-JavaScript content). The runs shown
 * are those of #runs=ID1,ID2 in the URL fragment, else of ?runs=ID1,ID2 (as the runs table links them); else those of
 * #rg-compare[data-default-runs="ID1,ID2"], else the first MAX_DEFAULT runs. Renders a params / metrics /
 * tags table (one column per run, rows whose values differ marked data-same="false"), an "only differences"
 * checkbox, a baseline select with deltas on numeric metrics, and one overlaid history chart per metric
 * (series filtered to the chosen runs, drawn by charts.js). All data goes in through textContent.
 * View state (viewstate.js): base=RUN_ID (not the first run) and diff=1|0 (not the page's default) in the
 * fragment; runs there too when the view came from it. A run id the page does not have is ignored.
 */
(function () {
  "use strict";

  var MAX_DEFAULT = 10;
  var SECTIONS = [["params", "Parameters"], ["metrics", "Metrics"], ["tags", "Tags"]];
  var MAX_TEXT = 1000;

  // Zero-specificity defaults (:where) so any theme CSS wins; a constructed sheet passes a strict style-src.
  var STYLE = [
    ":where(.rg-compare-controls){display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;margin:.5rem 0}",
    ":where(.rg-compare-controls select){max-width:24rem}",
    ":where(.rg-compare-table) :where(td,th){vertical-align:top;overflow-wrap:anywhere;max-width:28rem}",
    ":where(.rg-compare-table .rg-section-title th){text-align:left;padding-top:.8rem}",
    ":where(.rg-run-id){font-size:.75em;opacity:.7;font-weight:normal}",
    ":where(.rg-baseline){background:rgba(127,127,127,.12)}",
    ":where(.rg-delta){font-size:.85em;opacity:.85;white-space:nowrap}",
    ":where(.rg-row[data-same='false']) > :where(th){font-weight:bold}",
    ":where(.rg-missing){opacity:.5}"
  ].join("\n");

  function installStyle() {
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(STYLE);
      document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
    } catch (err) { /* unstyled but working */ }
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function show(value) {
    if (value === undefined) { return "\u2014"; }
    if (value === null) { return "null"; }
    if (typeof value === "number") {
      return Number.isInteger(value) ? String(value) : String(parseFloat(value.toPrecision(6)));
    }
    var text = String(value);
    return text.length > MAX_TEXT ? text.slice(0, MAX_TEXT) + "\u2026" : text;
  }

  function same(values) {
    for (var i = 1; i < values.length; i++) {
      if (values[i] !== values[0]) { return false; }
    }
    return true;
  }

  function relativeUrl(url) {
    return typeof url === "string" && url && !/^[a-z][a-z0-9+.-]*:/i.test(url) && url.indexOf("//") !== 0;
  }

  // The runs a URL asks for: its fragment's (a copied link), else its query's (the runs table's link).
  function wantedRuns() {
    var state = window.reportgenViewState;
    return (state && state.params().get("runs")) || new URLSearchParams(window.location.search).get("runs");
  }

  function chosenRuns(runs, note, fallback) {
    var byId = Object.create(null);
    runs.forEach(function (run) { byId[run.run_id] = run; });
    var pick = function (list) {  // the runs of "ID1,ID2" this page has, in that order
      var chosen = [], seen = Object.create(null);
      list.split(",").forEach(function (id) {
        id = id.trim();
        if (!id || seen[id]) { return; }
        seen[id] = true;
        if (byId[id]) { chosen.push(byId[id]); } else { pick.unknown += 1; }
      });
      return chosen;
    };
    pick.unknown = 0;
    var wanted = wantedRuns();
    var chosen = wanted ? pick(wanted) : [];
    if (pick.unknown) { note.textContent = pick.unknown + " requested run id(s) are not in this report and were left out."; }
    if (chosen.length) { return chosen; }
    // Nothing asked, or none of it here (a stale link): the page's own choice.
    chosen = fallback ? pick(fallback) : [];
    if (chosen.length) { return chosen; }
    if (runs.length > MAX_DEFAULT && !pick.unknown) {
      note.textContent = "No runs chosen: showing the first " + MAX_DEFAULT + " of " + runs.length +
        ". Tick runs in the experiment's runs table and press Compare.";
    }
    return runs.slice(0, MAX_DEFAULT);
  }

  function delta(value, base) {
    if (typeof value !== "number" || typeof base !== "number") { return null; }
    var diff = value - base;
    var text = "\u0394 " + (diff >= 0 ? "+" : "\u2212") + show(Math.abs(diff));
    if (base !== 0) {
      var pct = diff / Math.abs(base) * 100;
      text += ", " + (pct >= 0 ? "+" : "\u2212") + show(Math.abs(parseFloat(pct.toFixed(2)))) + "%";
    }
    return { text: "(" + text + ")", sign: diff > 0 ? "up" : diff < 0 ? "down" : "zero" };
  }

  function buildTable(runs) {
    var table = el("table", "rg-diff rg-compare-table");
    var head = table.createTHead().insertRow();
    head.appendChild(el("th", "rg-key-col", ""));
    runs.forEach(function (run, i) {
      var th = el("th", "rg-run-col");
      th.setAttribute("data-run-id", run.run_id);
      th.setAttribute("data-index", String(i));
      var name = run.name || String(run.run_id).slice(0, 8);
      if (relativeUrl(run.url)) {
        var link = el("a", "", name);
        link.setAttribute("href", run.url);
        th.appendChild(link);
      } else {
        th.appendChild(el("span", "", name));
      }
      var idLine = el("div", "rg-run-id", String(run.run_id).slice(0, 8));
      idLine.title = String(run.run_id);
      th.appendChild(idLine);
      head.appendChild(th);
    });
    SECTIONS.forEach(function (section) {
      var field = section[0];
      var keys = {};
      runs.forEach(function (run) { Object.keys(run[field] || {}).forEach(function (k) { keys[k] = true; }); });
      var sorted = Object.keys(keys).sort();
      var body = table.createTBody();
      body.className = "rg-section rg-section-" + field;
      body.setAttribute("data-section", field);
      var title = el("tr", "rg-section-title");
      var titleCell = el("th", "", section[1] + " (" + sorted.length + ")");
      titleCell.colSpan = runs.length + 1;
      title.appendChild(titleCell);
      body.appendChild(title);
      sorted.forEach(function (key) {
        var values = runs.map(function (run) { return (run[field] || {})[key]; });
        var equal = same(values);
        // rg-same / rg-differs: the theme CSS styles (and, with .rg-only-diff ticked, hides) these rows.
        var row = el("tr", "rg-row " + (equal ? "rg-same" : "rg-differs"));
        row.setAttribute("data-key", key);
        row.setAttribute("data-same", equal ? "true" : "false");
        row.appendChild(el("th", "rg-key", key));
        values.forEach(function (value, i) {
          var td = el("td", field === "metrics" ? "rg-cell rg-num" : "rg-cell");
          td.setAttribute("data-run-id", runs[i].run_id);
          td.appendChild(el("span", "rg-val", show(value)));
          if (value === undefined) { td.classList.add("rg-missing"); }
          row.appendChild(td);
        });
        row.rgValues = values;
        body.appendChild(row);
      });
    });
    return table;
  }

  function applyBaseline(table, runs, baseIndex) {
    Array.prototype.forEach.call(table.querySelectorAll(".rg-baseline"), function (cell) { cell.classList.remove("rg-baseline"); });
    Array.prototype.forEach.call(table.querySelectorAll(".rg-delta"), function (span) { span.remove(); });
    Array.prototype.forEach.call(table.rows, function (row) {
      var cell = row.cells[baseIndex + 1];
      if (cell && row.cells.length === runs.length + 1) { cell.classList.add("rg-baseline"); }
    });
    var metrics = table.querySelector("tbody[data-section='metrics']");
    if (!metrics) { return; }
    Array.prototype.forEach.call(metrics.querySelectorAll("tr.rg-row"), function (row) {
      var base = row.rgValues[baseIndex];
      row.rgValues.forEach(function (value, i) {
        if (i === baseIndex) { return; }
        var d = delta(value, base);
        if (d) {
          var span = el("span", "rg-delta rg-delta-" + d.sign, " " + d.text);
          row.cells[i + 1].appendChild(span);
        }
      });
    });
  }

  function applyOnlyDifferences(table, on) {
    Array.prototype.forEach.call(table.tBodies, function (body) {
      var visible = 0;
      Array.prototype.forEach.call(body.querySelectorAll("tr.rg-row"), function (row) {
        row.hidden = on && row.getAttribute("data-same") === "true";
        if (!row.hidden) { visible += 1; }
      });
      body.hidden = visible === 0 && on;
    });
  }

  function historyFigure(key, spec, runs) {
    var ids = {};
    runs.forEach(function (run) { ids[run.run_id] = true; });
    spec = JSON.parse(JSON.stringify(spec));
    if (spec.data && Array.isArray(spec.data.values)) {
      var values = spec.data.values;
      var keep = values.filter(function (series) { return series.id === undefined || ids[series.id]; });
      if (!keep.length) { return null; }
      spec.data.values = keep;
      var meta = spec.usermeta && spec.usermeta.reportgen;
      if (meta && Array.isArray(meta.robust_y)) {
        // The outliers may belong to runs not chosen here: then the chosen ones get their full range.
        var lo = meta.robust_y[0], hi = meta.robust_y[1];
        var inside = keep.every(function (series) {
          return (series.y || []).every(function (v) { return v === null || (v >= lo && v <= hi); });
        });
        if (inside) { meta.robust_y = null; meta.clamp_y = null; }
      }
      var scale = spec.encoding && spec.encoding.color && spec.encoding.color.scale;
      if (scale && Array.isArray(scale.domain)) {
        // Keep each run's colour tied to its label: shrink domain and range together.
        var labels = keep.map(function (series) { return series.c; });
        var range = Array.isArray(scale.range) ? scale.range : null;
        var pairs = scale.domain.map(function (label, i) { return [label, range ? range[i] : null]; })
          .filter(function (pair) { return labels.indexOf(pair[0]) !== -1; });
        scale.domain = pairs.map(function (p) { return p[0]; });
        if (range) { scale.range = pairs.map(function (p) { return p[1]; }); }
      }
      // The spec was made for every run of the experiment (no legend past 20 lines); the few compared here
      // need one, or nothing says which colour is which run (charts.py LEGEND_LIMIT).
      var color = spec.encoding && spec.encoding.color;
      if (color && color.legend === null && keep.length <= 20) { color.legend = { title: "Run", symbolType: "stroke" }; }
    }
    var figure = el("figure", "rg-chart");
    figure.setAttribute("data-metric", key);
    figure.appendChild(el("figcaption", "rg-chart-title", key));
    figure.appendChild(el("div", "rg-chart-view"));
    figure.rgSpec = spec;
    return figure;
  }

  function changed() {
    if (window.reportgenViewState) { window.reportgenViewState.changed(false); }
  }

  // Baseline and "only differences" in the URL fragment; runs too when the page's runs came from there.
  function connectState(runs, baseSelect, diffBox, diffDefault, apply) {
    var state = window.reportgenViewState;
    if (!state) { return; }
    var fromFragment = !!state.params().get("runs");
    var asked = wantedRuns();
    var load = function (params) {
      if (wantedRuns() !== asked) { window.location.reload(); return; }  // another set of runs: a new page
      var base = 0;
      runs.forEach(function (run, i) { if (run.run_id === params.get("base")) { base = i; } });
      baseSelect.value = String(base);
      var diff = params.get("diff");
      diffBox.checked = diff === "1" ? true : diff === "0" ? false : diffDefault;
      apply();
    };
    var save = function (params) {
      if (fromFragment) { params.set("runs", runs.map(function (run) { return run.run_id; }).join(",")); }
      var base = parseInt(baseSelect.value, 10) || 0;
      if (base > 0) { params.set("base", runs[base].run_id); }
      if (diffBox.checked !== diffDefault) { params.set("diff", diffBox.checked ? "1" : "0"); }
    };
    state.register(load, save);
  }

  function init() {
    var block = document.getElementById("rg-compare-data");
    var root = document.getElementById("rg-compare");
    if (!block || !root) { return; }
    installStyle();
    var data;
    try {
      data = JSON.parse(block.textContent);
    } catch (err) {
      console.error("reportgen: the compare data block is not valid JSON", err);
      return;
    }
    var note = el("p", "rg-compare-note rg-meta");
    // Keep the reader's choice from the no-JavaScript view (its "only differences" box) if there was one.
    var previous = root.querySelector("input.rg-only-diff, input.rg-only-differences");
    var onlyDiff = !!(previous && previous.checked);
    var runs = chosenRuns(Array.isArray(data.runs) ? data.runs : [], note, root.getAttribute("data-default-runs"));
    root.textContent = "";
    root.appendChild(note);
    if (!runs.length) {
      note.textContent = (note.textContent ? note.textContent + " " : "") + "There are no runs to compare.";
      root.setAttribute("data-ready", "true");
      return;
    }
    var controls = el("div", "rg-compare-controls");
    var baseLabel = el("label", "", "Baseline ");
    var baseSelect = el("select", "rg-baseline-select");
    runs.forEach(function (run, i) {
      var option = el("option", "", run.name || String(run.run_id).slice(0, 8));
      option.value = String(i);
      baseSelect.appendChild(option);
    });
    baseLabel.appendChild(baseSelect);
    var diffLabel = el("label", "");
    var diffBox = el("input", "rg-only-differences rg-only-diff");
    diffBox.type = "checkbox";
    diffBox.checked = onlyDiff;
    diffLabel.appendChild(diffBox);
    diffLabel.appendChild(document.createTextNode(" only differences"));
    controls.appendChild(baseLabel);
    controls.appendChild(diffLabel);
    root.appendChild(controls);

    var wrap = el("div", "rg-table-wrap");
    var table = buildTable(runs);
    wrap.appendChild(table);
    root.appendChild(wrap);
    applyBaseline(table, runs, 0);
    applyOnlyDifferences(table, onlyDiff);
    baseSelect.addEventListener("change", function () { applyBaseline(table, runs, parseInt(baseSelect.value, 10) || 0); changed(); });
    diffBox.addEventListener("change", function () { applyOnlyDifferences(table, diffBox.checked); changed(); });
    connectState(runs, baseSelect, diffBox, previous ? previous.defaultChecked : false, function () {
      applyBaseline(table, runs, parseInt(baseSelect.value, 10) || 0);
      applyOnlyDifferences(table, diffBox.checked);
    });

    var histories = data.histories || {};
    var keys = Object.keys(histories).sort();
    if (keys.length) {
      var section = el("section", "rg-compare-histories");
      section.appendChild(el("h2", "", "Metric histories"));
      var grid = el("div", "rg-charts");
      section.appendChild(grid);
      keys.forEach(function (key) {
        var spec = histories[key];
        if (!spec || typeof spec !== "object" || !(spec.mark || spec.layer)) {
          console.warn("reportgen: history of " + key + " is not a chart spec; skipped");
          return;
        }
        var figure = historyFigure(key, spec, runs);
        if (figure) { grid.appendChild(figure); }
      });
      root.appendChild(section);
      if (window.reportgenCharts) {
        Array.prototype.forEach.call(section.querySelectorAll(".rg-chart"), window.reportgenCharts.add);
      }
    }
    // Images per step of the chosen runs, under one step slider (static/js/images.js).
    var images = window.reportgenImages ? window.reportgenImages.grid(runs) : null;
    if (images) { root.appendChild(images); }
    root.setAttribute("data-ready", "true");
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
