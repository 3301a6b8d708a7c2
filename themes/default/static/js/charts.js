/* reportgen charts: draws every <figure class="rg-chart"> with vega-embed (SVG renderer), in theme colours.
 *
 * Markup (templates/_charts.html): <figure class="rg-chart" data-spec-id="ID"> holding a
 * <div class="rg-chart-view"> and <script type="application/json" id="ID"> with a Vega-Lite spec made by
 * reportgen.charts. Colours come from CSS variables on :root (--rg-fg, --rg-bg, --rg-grid,
 * --rg-chart-palette as a comma-separated list, optional --rg-chart-bg), read at render time, so light
 * and dark themes both apply; charts are redrawn when prefers-color-scheme changes.
 * History charts (usermeta.reportgen.kind == "history") get controls: x axis (step, wall time,
 * relative time), log scale, smoothing (TensorBoard-style debiased EMA) and, when the spec found far
 * outliers (usermeta.reportgen.robust_y), "ignore outliers" (on by default). Every chart gets SVG and
 * PNG download buttons; vega-embed's action menu stays off (its "Open in Vega Editor" goes online).
 * Charts draw one at a time after load, those in the viewport first, so long pages stay responsive.
 * Signals for tests: figure[data-drawn="true"], figure[data-renders=N], figure[data-draw-ms];
 * body[data-charts-drawn="true"] once every chart drew (or failed: body[data-charts-failed] counts
 * failures, each logged to the console), body[data-charts-drawn-ms] = page time when that happened.
 * API for other page scripts: window.reportgenCharts.add(figure) queues a figure built at run time
 * whose spec is in the property figure.rgSpec.
 * View state (viewstate.js): a history chart's options live in the URL fragment under its title (the metric
 * key): x.KEY (an axis of the spec), log.KEY=1|0, smooth.KEY (0 to 0.99), outliers.KEY=1|0, only when not the
 * chart's default. A value the spec does not offer is ignored.
 */
(function () {
  "use strict";

  var queue = [];
  var total = 0;
  var finished = 0;
  var failed = 0;
  var running = false;
  var observer = null;

  var STYLE = [
    ".rg-chart-tools{display:flex;flex-wrap:wrap;gap:.3rem .8rem;align-items:center;font-size:.8rem;margin:.2rem 0}",
    ".rg-chart-tools label{display:inline-flex;gap:.3rem;align-items:center}",
    ".rg-chart-tools button{font:inherit;font-size:.75rem;padding:.05rem .4rem;cursor:pointer}",
    ".rg-chart-tools select{width:auto;min-width:0;font:inherit;font-size:.8rem}",
    ".rg-chart-tools input[type=range]{width:7rem}",
    ".rg-chart-view{width:100%;min-height:1rem}",
    ".rg-chart-error{color:#b42318;font-size:.85rem}",
    "#vg-tooltip-element{visibility:hidden;padding:6px 8px;position:fixed;z-index:1000;font:12px system-ui,sans-serif;",
    "border-radius:3px;box-shadow:0 2px 6px rgba(0,0,0,.25);background:var(--rg-bg,#fff);color:var(--rg-fg,#111);",
    "border:1px solid var(--rg-grid,#ccc);max-width:480px;overflow-wrap:anywhere;pointer-events:none}",
    "#vg-tooltip-element.visible{visibility:visible}",
    "#vg-tooltip-element table{border-spacing:0}",
    "#vg-tooltip-element td.key{color:var(--rg-muted,#666);text-align:right;padding-right:4px}"
  ].join("\n");

  function installStyle() {
    // A constructed stylesheet is not an inline <style>, so a strict style-src policy still allows it.
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(STYLE);
      document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
    } catch (err) { /* old browser: charts still draw, tooltips are unstyled */ }
  }

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function isDark() {
    return !!(window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches);
  }

  function themeConfig() {
    var dark = isDark();
    var fg = cssVar("--rg-fg", dark ? "#e6e6e6" : "#1f2328");
    var grid = cssVar("--rg-grid", dark ? "#3a3f47" : "#e3e6ea");
    var palette = cssVar("--rg-chart-palette", "").split(",").map(function (c) {
      return c.trim().replace(/^["']|["']$/g, "");
    }).filter(Boolean);
    var config = {
      background: cssVar("--rg-chart-bg", "transparent"),
      axis: { labelColor: fg, titleColor: fg, gridColor: grid, domainColor: grid, tickColor: grid },
      legend: { labelColor: fg, titleColor: fg },
      title: { color: fg },
      text: { color: fg },
      rule: { color: grid }
    };
    if (palette.length) { config.range = { category: palette }; }
    return config;
  }

  function merge(target, source) {
    Object.keys(source).forEach(function (key) {
      var value = source[key];
      if (value && typeof value === "object" && !Array.isArray(value) &&
          target[key] && typeof target[key] === "object" && !Array.isArray(target[key])) {
        merge(target[key], value);
      } else {
        target[key] = value;
      }
    });
    return target;
  }

  function clone(obj) { return JSON.parse(JSON.stringify(obj)); }

  function meta(spec) { return (spec.usermeta && spec.usermeta.reportgen) || {}; }

  function ema(values, weight) {
    // TensorBoard's smoothing: exponential moving average, debiased so early points are not pulled to 0.
    var last = 0, count = 0, out = new Array(values.length);
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      if (v === null || !isFinite(v)) { out[i] = null; continue; }
      last = last * weight + (1 - weight) * v;
      count += 1;
      out[i] = last / (1 - Math.pow(weight, count));
    }
    return out;
  }

  /* The spec as drawn: base spec + theme colours + the figure's control state. */
  function specFor(figure) {
    var spec = clone(figure.rgSpec);
    var m = meta(spec);
    var state = figure.rgState;
    if (m.kind === "history" && state && spec.encoding) {
      var axis = (m.x_axes || {})[state.x];
      if (axis) { spec.encoding.x = merge(spec.encoding.x || {}, axis); }
      spec.encoding.y = spec.encoding.y || {};
      spec.encoding.y.scale = state.log ? { type: "log" } : { zero: false };
      // "yc" is y pinned near the robust range (a calculate transform of the spec): huge values would
      // otherwise become SVG coordinates the browser cannot parse.
      var robust = !state.log && state.ignoreOutliers && m.robust_y && m.clamp_y;
      spec.encoding.y.field = robust ? "yc" : "y";
      if (robust) { spec.encoding.y.scale.domain = m.robust_y; }
      if (state.smooth > 0 && spec.data && Array.isArray(spec.data.values)) {
        spec.data.values.forEach(function (series) {
          series.ys = ema(series.y || [], state.smooth);
          if (robust) {
            series.ys = series.ys.map(function (v) {
              return v === null ? null : Math.min(m.clamp_y[1], Math.max(m.clamp_y[0], v));
            });
          }
        });
        (spec.transform || []).forEach(function (t) { if (t.flatten) { t.flatten.push("ys"); } });
        var smoothY = merge(clone(spec.encoding.y), { field: "ys" });
        var faint = merge(clone(spec.mark), { opacity: 0.25, point: false });
        spec.layer = [{ mark: faint }, { mark: spec.mark, encoding: { y: smoothY } }];
        delete spec.mark;
      }
    }
    // The figure's caption already shows the title; the spec keeps it for static images.
    if (figure.querySelector(".rg-chart-title")) { delete spec.title; }
    spec.config = merge(spec.config || {}, themeConfig());
    return spec;
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function download(figure, type) {
    if (!figure.rgResult) { return; }
    figure.rgResult.view.toImageURL(type, type === "png" ? 2 : 1).then(function (url) {
      var a = el("a", { href: url, download: (figure.dataset.specId || "chart") + "." + type });
      document.body.appendChild(a);
      a.click();
      a.remove();
    }).catch(function (err) { console.error("reportgen: export failed", err); });
  }

  // The name a chart's options go under in the URL: its metric key stays the same across rebuilds, where
  // the figure's position (data-spec-id) may not.
  function chartKey(figure) {
    var caption = figure.querySelector(".rg-chart-title");
    return figure.getAttribute("data-metric") || (caption ? caption.textContent.trim() : "") ||
      figure.getAttribute("data-spec-id") || "";
  }

  var STATE_KEYS = ["x.", "log.", "smooth.", "outliers."];

  function defaultState(m) { return { x: m.x || "step", log: !!m.log_y, smooth: 0, ignoreOutliers: !!m.robust_y }; }

  // The options a link asks for, each checked against what this chart offers (else its default).
  function linkedState(m, key) {
    var state = defaultState(m);
    var vs = window.reportgenViewState;
    if (!vs) { return state; }
    var params = vs.params();
    var x = params.get("x." + key);
    if (x !== null && Object.prototype.hasOwnProperty.call(m.x_axes || {}, x)) { state.x = x; }
    var log = params.get("log." + key);
    if (log === "1" || log === "0") { state.log = log === "1"; }
    var smooth = Number(params.get("smooth." + key));
    if (params.get("smooth." + key) && smooth >= 0 && smooth <= 0.99) { state.smooth = Math.round(smooth * 100) / 100; }
    var outliers = params.get("outliers." + key);
    if (m.robust_y && (outliers === "1" || outliers === "0")) { state.ignoreOutliers = outliers === "1"; }
    return state;
  }

  function saveStates(params, current) {
    Array.prototype.forEach.call(document.querySelectorAll(".rg-chart"), function (figure) {
      var key = chartKey(figure);
      if (!figure.rgState) {  // not drawn yet: it keeps what the link asked for until it is
        STATE_KEYS.forEach(function (prefix) {
          if (current.get(prefix + key) !== null) { params.set(prefix + key, current.get(prefix + key)); }
        });
        return;
      }
      var state = figure.rgState, base = defaultState(meta(figure.rgSpec));
      if (state.x !== base.x) { params.set("x." + key, state.x); }
      if (state.log !== base.log) { params.set("log." + key, state.log ? "1" : "0"); }
      if (state.smooth !== base.smooth) { params.set("smooth." + key, String(state.smooth)); }
      if (state.ignoreOutliers !== base.ignoreOutliers) { params.set("outliers." + key, state.ignoreOutliers ? "1" : "0"); }
    });
  }

  // Back/forward: drawn charts take the fragment's options (undrawn ones read it when they draw).
  function loadStates() {
    Array.prototype.forEach.call(document.querySelectorAll(".rg-chart"), function (figure) {
      if (!figure.rgState || !figure.rgControls) { return; }
      var next = linkedState(meta(figure.rgSpec), chartKey(figure));
      var state = figure.rgState;
      if (next.x === state.x && next.log === state.log && next.smooth === state.smooth &&
          next.ignoreOutliers === state.ignoreOutliers) { return; }
      figure.rgState = next;
      var controls = figure.rgControls;
      controls.select.value = next.x;
      controls.log.checked = next.log;
      controls.smooth.value = String(next.smooth);
      controls.shown.textContent = String(next.smooth);
      if (controls.outliers) { controls.outliers.checked = next.ignoreOutliers; }
      redraw(figure);
    });
  }

  function changed() {
    if (window.reportgenViewState) { window.reportgenViewState.changed(false); }
  }

  function buildTools(figure, view) {
    var tools = el("div", { "class": "rg-chart-tools" });
    var m = meta(figure.rgSpec);
    if (m.kind === "history") {
      figure.rgState = linkedState(m, chartKey(figure));
      var xLabel = el("label", {}, "x ");
      var select = el("select", { "class": "rg-x-axis" });
      Object.keys(m.x_axes || {}).forEach(function (key) {
        var option = el("option", { value: key }, m.x_axes[key].title || key);
        if (key === figure.rgState.x) { option.selected = true; }
        select.appendChild(option);
      });
      select.addEventListener("change", function () { figure.rgState.x = select.value; redraw(figure); changed(); });
      xLabel.appendChild(select);
      var logLabel = el("label", {});
      var log = el("input", { type: "checkbox", "class": "rg-log-y" });
      log.checked = figure.rgState.log;
      log.addEventListener("change", function () { figure.rgState.log = log.checked; redraw(figure); changed(); });
      logLabel.appendChild(log);
      logLabel.appendChild(document.createTextNode("log scale"));
      var smoothLabel = el("label", {}, "smoothing ");
      var smooth = el("input", { type: "range", min: "0", max: "0.99", step: "0.01", "class": "rg-smooth" });
      smooth.value = String(figure.rgState.smooth);
      var shown = el("output", {}, String(figure.rgState.smooth));
      smooth.addEventListener("input", function () { shown.textContent = smooth.value; });
      smooth.addEventListener("change", function () {
        figure.rgState.smooth = parseFloat(smooth.value) || 0;
        redraw(figure);
        changed();
      });
      smoothLabel.appendChild(smooth);
      smoothLabel.appendChild(shown);
      tools.appendChild(xLabel);
      tools.appendChild(logLabel);
      tools.appendChild(smoothLabel);
      if (m.robust_y) {
        // Only offered when Python found far outliers (usermeta.reportgen.robust_y is the range without them).
        var outLabel = el("label", { title: "Scale the y axis to the bulk of the values; far outliers are clipped" });
        var outliers = el("input", { type: "checkbox", "class": "rg-ignore-outliers" });
        outliers.checked = figure.rgState.ignoreOutliers;
        outliers.addEventListener("change", function () {
          figure.rgState.ignoreOutliers = outliers.checked;
          redraw(figure);
          changed();
        });
        outLabel.appendChild(outliers);
        outLabel.appendChild(document.createTextNode("ignore outliers"));
        tools.appendChild(outLabel);
      }
      figure.rgControls = { select: select, log: log, smooth: smooth, shown: shown, outliers: m.robust_y ? outliers : null };
    }
    ["svg", "png"].forEach(function (type) {
      var button = el("button", { type: "button", "class": "rg-export-" + type, title: "Download as " + type.toUpperCase() },
        type.toUpperCase());
      button.addEventListener("click", function () { download(figure, type); });
      tools.appendChild(button);
    });
    figure.insertBefore(tools, view);
  }

  function readSpec(figure) {
    if (figure.rgSpec) { return figure.rgSpec; }
    var id = figure.getAttribute("data-spec-id");
    var block = id ? document.getElementById(id) : null;
    if (!block) { throw new Error("no spec block #" + id); }
    return JSON.parse(block.textContent);
  }

  function viewOf(figure) {
    var view = figure.querySelector(".rg-chart-view");
    if (!view) {
      view = el("div", { "class": "rg-chart-view" });
      figure.appendChild(view);
    }
    return view;
  }

  function embed(figure) {
    var view = viewOf(figure);
    if (typeof window.vegaEmbed !== "function") {
      return Promise.reject(new Error("static/vendor/vega-bundle.js did not load"));
    }
    if (figure.rgResult) { figure.rgResult.finalize(); figure.rgResult = null; }
    figure.dataset.drawn = "false";
    var began = performance.now();
    return window.vegaEmbed(view, specFor(figure), {
      mode: "vega-lite",
      renderer: "svg",
      actions: false,
      defaultStyle: false,
      tooltip: { disableDefaultStyle: true },
      loader: { target: "_self" }
    }).then(function (result) {
      figure.rgResult = result;
      figure.dataset.drawn = "true";
      figure.dataset.drawMs = String(Math.round(performance.now() - began));
      figure.dataset.renders = String((parseInt(figure.dataset.renders || "0", 10) || 0) + 1);
    });
  }

  function redraw(figure) {
    return embed(figure).catch(function (err) { fail(figure, err); });
  }

  function fail(figure, err) {
    figure.dataset.drawn = "error";
    var note = figure.querySelector(".rg-chart-error") || el("p", { "class": "rg-chart-error" });
    note.textContent = "This chart could not be drawn: " + (err && err.message ? err.message : err);
    figure.appendChild(note);
    console.error("reportgen: chart " + (figure.getAttribute("data-spec-id") || "") + " failed:", err);
  }

  function settle(ok) {
    finished += 1;
    if (!ok) {
      failed += 1;
      document.body.dataset.chartsFailed = String(failed);
    }
    if (finished >= total) {
      document.body.dataset.chartsDrawnMs = String(Math.round(performance.now()));
      document.body.dataset.chartsDrawn = "true";
    }
  }

  function drawFigure(figure) {
    try {
      figure.rgSpec = readSpec(figure);
      if (!figure.querySelector(".rg-chart-tools")) { buildTools(figure, viewOf(figure)); }
    } catch (err) {
      fail(figure, err);
      settle(false);
      return Promise.resolve();
    }
    return embed(figure).then(function () { settle(true); }, function (err) { fail(figure, err); settle(false); });
  }

  function inView(figure) {
    var rect = figure.getBoundingClientRect();
    return rect.bottom >= 0 && rect.top <= (window.innerHeight || 800) * 1.5;
  }

  function pump() {
    if (running || !queue.length) { return; }
    running = true;
    // Visible charts first; the rest draw in the background, one per task, so the page stays usable.
    var index = 0;
    for (var i = 0; i < queue.length; i++) { if (queue[i].rgVisible) { index = i; break; } }
    var figure = queue.splice(index, 1)[0];
    if (observer) { observer.unobserve(figure); }
    drawFigure(figure).then(function () {
      running = false;
      setTimeout(pump, 0);
    });
  }

  function add(figure) {
    if (figure.rgQueued) { return; }
    figure.rgQueued = true;
    total += 1;
    document.body.dataset.chartsDrawn = "false";
    figure.rgVisible = inView(figure);
    queue.push(figure);
    if (observer) { observer.observe(figure); }
    setTimeout(pump, 0);
  }

  function start() {
    installStyle();
    if (window.reportgenViewState) { window.reportgenViewState.register(loadStates, saveStates); }
    if ("IntersectionObserver" in window) {
      observer = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) { entry.target.rgVisible = entry.isIntersecting; });
      }, { rootMargin: "300px" });
    }
    var figures = document.querySelectorAll("figure.rg-chart, .rg-chart");
    if (!figures.length && !total) {
      document.body.dataset.chartsDrawnMs = String(Math.round(performance.now()));
      document.body.dataset.chartsDrawn = "true";
    }
    Array.prototype.forEach.call(figures, add);
    if (window.matchMedia) {
      var query = window.matchMedia("(prefers-color-scheme: dark)");
      var recolour = function () {
        Array.prototype.forEach.call(document.querySelectorAll(".rg-chart"), function (figure) {
          if (figure.rgResult) { redraw(figure); }
        });
      };
      if (query.addEventListener) { query.addEventListener("change", recolour); }
    }
  }

  window.reportgenCharts = { add: add, ema: ema };

  // Deferred one task so page scripts (compare.js) can build their figures first on DOMContentLoaded.
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { setTimeout(start, 0); });
  } else {
    setTimeout(start, 0);
  }
})();
