/* reportgen runs table: sort, filter, show/hide columns, "only params that vary", pick runs to compare.
 *
 * Markup contract (rendered by the experiment template):
 *   <table class="rg-runs" data-table> with a header row of <th data-col="KEY" data-kind="attr|param|metric|tag"
 *   data-varies="true|false">; body rows <tr data-run-id="ID"> whose cells carry data-value="raw sortable value"
 *   unless that is the cell's trimmed text, sorted by then (numbers sort as numbers; "NaN" sorts last,
 *   "+inf"/"-inf" as infinities; empty cells always last); metric cells always carry it;
 *   the first cell holds <input type="checkbox" class="rg-pick" value="RUN_ID">. A nested run's row may carry
 *   data-parent="PARENT_RUN_ID": sorting then keeps it under its parent (siblings sorted among themselves).
 *   Controls, looked up in the nearest ancestor that holds them (else the whole page):
 *   <input type="search" class="rg-filter">, a container .rg-column-toggles (this script fills it with one
 *   checkbox per column), a checkbox .rg-only-varying, and a .rg-compare button or link. The compare link
 *   goes to compare.html?runs=ID1,ID2 relative to the page (a link's own href, or data-href, replaces
 *   compare.html). It is enabled once two runs are ticked; an element .rg-pick-count, if present, shows
 *   how many are ticked.
 * A table split over pages names, in data-rows-src, a script holding every row of it (runs-pages.js): sort,
 * filter and the pager then work on all the rows, and ticks stay on every page.
 * Extras beyond the contract: header cells sort on click or Enter (aria-sort tells which way); a header
 * checkbox .rg-pick-all, if present, ticks every visible row; a metric summary select (last, min, max, best
 * step: whichever metric:KEY:SUMMARY columns exist; a theme's own select.rg-metric-summary is used if present)
 * shows that column of every metric. Each table gets table.rgTable = {view, controls, pagers} (controls: sort,
 * filter, columns and picks, each with get/set) for runs-state.js, which keeps them in the URL fragment.
 */
(function () {
  "use strict";

  var SPECIAL = { "NaN": NaN, "nan": NaN, "+inf": Infinity, "inf": Infinity, "Infinity": Infinity,
                  "-inf": -Infinity, "-Infinity": -Infinity };

  function sortKey(raw) {
    // [rank, number, text]: numbers before text, NaN after numbers, empty cells last.
    if (raw === null || raw === undefined || raw === "") { return [3, 0, ""]; }
    if (Object.prototype.hasOwnProperty.call(SPECIAL, raw)) {
      var special = SPECIAL[raw];
      return isNaN(special) ? [1, 0, ""] : [0, special, ""];
    }
    var number = Number(raw);
    if (raw.trim() !== "" && !isNaN(number)) { return [0, number, ""]; }
    return [2, 0, raw.toLowerCase()];
  }

  function compareKeys(a, b) {
    if (a[0] !== b[0]) { return a[0] - b[0]; }
    if (a[0] === 0 && a[1] !== b[1]) { return a[1] < b[1] ? -1 : 1; }
    if (a[2] !== b[2]) { return a[2] < b[2] ? -1 : 1; }
    return 0;
  }

  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) { return ""; }
    var raw = cell.getAttribute("data-value");
    return raw === null ? cell.textContent.trim() : raw;
  }

  function scopeOf(table) {
    for (var node = table.parentElement; node && node !== document.body; node = node.parentElement) {
      if (node.querySelector(".rg-filter, .rg-compare, .rg-column-toggles")) { return node; }
    }
    return document;
  }

  function headerCells(table) {
    var head = table.tHead ? table.tHead.rows[table.tHead.rows.length - 1] : table.rows[0];
    return head ? Array.prototype.slice.call(head.cells) : [];
  }

  function bodyRows(table) {
    var rows = [];
    Array.prototype.forEach.call(table.tBodies, function (body) {
      Array.prototype.forEach.call(body.rows, function (row) { if (row.hasAttribute("data-run-id")) { rows.push(row); } });
    });
    return rows;
  }

  // The rows the controls work on: runs-pages.js pages a table split over static pages; without it (a theme
  // that leaves it out) every table is just the rows of its own page.
  function makeView(table, scope) {
    if (window.reportgenRunsPages) { return window.reportgenRunsPages.makeView(table, scope, bodyRows); }
    var view = { table: table, all: null, page: 0, split: false, adopted: [], shown: [] };
    view.rows = function () { return bodyRows(table); };
    view.ensure = function (then) { then(false); };
    view.show = function () {};
    return view;
  }

  function staticPagers(scope) {
    return window.reportgenRunsPages ? window.reportgenRunsPages.staticPagers(scope) : [];
  }

  // Rows in the order of column `index`, nested runs under their parent (siblings sorted among themselves).
  function sortedRows(rows, index, ascending) {
    var keyed = rows.map(function (row, position) { return [sortKey(cellValue(row, index)), position, row]; });
    keyed.sort(function (a, b) {
      // Empty cells stay last in both directions; ties keep their previous order (stable).
      var emptyA = a[0][0] === 3, emptyB = b[0][0] === 3;
      if (emptyA !== emptyB) { return emptyA ? 1 : -1; }
      var c = compareKeys(a[0], b[0]);
      return (ascending ? c : -c) || a[1] - b[1];
    });
    var present = {};
    rows.forEach(function (row) { present[row.getAttribute("data-run-id")] = true; });
    var children = {};
    var roots = [];
    keyed.forEach(function (k) {
      var parent = k[2].getAttribute("data-parent");
      if (parent && present[parent] && parent !== k[2].getAttribute("data-run-id")) {
        (children[parent] = children[parent] || []).push(k[2]);
      } else {
        roots.push(k[2]);
      }
    });
    var ordered = [];
    var placed = {};
    var place = function (row) {
      var id = row.getAttribute("data-run-id");
      if (placed[id]) { return; }  // a parent cycle in the data must not loop
      placed[id] = true;
      ordered.push(row);
      (children[id] || []).forEach(place);
    };
    roots.forEach(place);
    rows.forEach(function (row) { if (!placed[row.getAttribute("data-run-id")]) { ordered.push(row); } });
    return ordered;
  }

  // Sorting starts from the page's own order each time, so one sort (from a link or the back button) always
  // gives the same rows; sort(null) brings that order back.
  function setupSort(table, headers, view) {
    var original = bodyRows(table);
    var originalAll = null;
    view.adopted.push(function () { originalAll = view.all.slice(); });
    var current = null;  // {th, ascending}
    var apply = function (th, ascending) {
      current = th ? { th: th, ascending: ascending } : null;
      headers.forEach(function (other) { if (other.hasAttribute("aria-sort")) { other.setAttribute("aria-sort", "none"); } });
      if (th) { th.setAttribute("aria-sort", ascending ? "ascending" : "descending"); }
      var index = th ? th.cellIndex : -1;
      var order = function (rows) { return th ? sortedRows(rows, index, ascending) : rows; };
      view.ensure(function (whole) {
        if (whole) {
          view.all = order(originalAll || view.all);
          view.page = 0;
          view.show();
          return;
        }
        Array.prototype.forEach.call(table.tBodies, function (body) {
          var rows = original.filter(function (r) { return r.parentNode === body; });
          var fragment = document.createDocumentFragment();
          order(rows).forEach(function (row) { fragment.appendChild(row); });
          body.appendChild(fragment);
        });
      });
    };
    headers.forEach(function (th) {
      if (!th.hasAttribute("data-col")) { return; }
      th.tabIndex = 0;
      th.classList.add("rg-sortable");
      th.setAttribute("aria-sort", "none");
      th.title = th.title || "Sort by this column";
      var sort = function () {
        apply(th, th.getAttribute("aria-sort") !== "ascending");
        changed(false);
      };
      th.addEventListener("click", function (event) {
        if (event.target.closest && event.target.closest("input, a, button")) { return; }
        sort();
      });
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
      });
    });
    return {
      get: function () { return current; },
      set: function (th, ascending) {
        if ((current ? current.th : null) === th && (!th || current.ascending === ascending)) { return; }
        apply(th, ascending);
      }
    };
  }

  function setupFilter(table, scope, view) {
    var box = scope.querySelector("input.rg-filter");
    if (!box) { return null; }
    var texts = new WeakMap();
    var applied = "";
    var apply = function () {
      applied = box.value;
      view.ensure(function (whole) {
        var terms = box.value.toLowerCase().split(/\s+/).filter(Boolean);
        var shown = 0;
        view.rows().forEach(function (row) {
          var text = texts.get(row);
          if (text === undefined) { text = row.textContent.toLowerCase(); texts.set(row, text); }
          var match = terms.every(function (term) { return text.indexOf(term) !== -1; });
          row.hidden = !match;
          if (match) { shown += 1; }
        });
        table.setAttribute("data-shown-rows", String(shown));
        if (whole) { view.page = 0; view.show(); }
      });
    };
    box.addEventListener("input", function () { apply(); changed(true); });
    if (box.value) { apply(); }
    // Back from the compare page the browser restores the typed filter without an input event (a filter
    // already applied, as from a link, is left alone: applying it again would go back to the first page).
    window.addEventListener("pageshow", function () { if (box.value !== applied) { apply(); } });
    return {
      get: function () { return box.value; },
      set: function (text) {
        if (box.value === text) { return; }
        box.value = text;  // a value, never markup
        apply();
      }
    };
  }

  function setColumnHidden(rows, index, hidden) {
    rows.forEach(function (row) {
      var cell = row.cells[index];
      if (cell) { cell.hidden = hidden; }
    });
  }

  // The summary a metric column shows: "min" for metric:KEY:min when metric:KEY is a column too, else "last".
  function summaryOf(key, metricKeys) {
    var cut = key.lastIndexOf(":");
    return cut > 7 && metricKeys[key.slice(0, cut)] ? key.slice(cut + 1) : "last";
  }

  function summaryLabel(name) {
    return { last: "last", min: "min", max: "max", mean: "mean", best_step: "best step" }[name] || name;
  }

  function setupColumns(table, headers, scope, view) {
    var box = scope.querySelector(".rg-column-toggles");
    var onlyVarying = scope.querySelector("input.rg-only-varying");
    var columns = headers.filter(function (th) { return th.hasAttribute("data-col"); }).map(function (th) {
      return { th: th, key: th.getAttribute("data-col"), index: th.cellIndex, kind: th.getAttribute("data-kind") || "attr",
               initial: !th.hidden, wanted: !th.hidden, toggle: null };
    });
    var metricKeys = Object.create(null);
    columns.forEach(function (col) { if (col.kind === "metric") { metricKeys[col.key] = true; } });
    var summaries = [];
    columns.forEach(function (col) {
      if (col.kind !== "metric") { return; }
      col.summary = summaryOf(col.key, metricKeys);
      if (summaries.indexOf(col.summary) === -1) { summaries.push(col.summary); }
    });
    var summary = "last";
    // What a column shows before any toggle: the page's choice, or under another summary that summary's column.
    var baseline = function (col) { return col.kind === "metric" && summary !== "last" ? col.summary === summary : col.initial; };
    var refresh = function () {
      var varyingOnly = !!(onlyVarying && onlyVarying.checked);
      // Header rows and every run's row, shown or not, so a row brought in later has the same columns.
      var rows = Array.prototype.filter.call(table.rows, function (row) { return !row.hasAttribute("data-run-id"); })
        .concat(view.rows());
      columns.forEach(function (col) {
        var constant = col.kind === "param" && col.th.getAttribute("data-varies") === "false";
        var hidden = !col.wanted || (varyingOnly && constant);
        setColumnHidden(rows, col.index, hidden);
        if (col.toggle) { col.toggle.checked = col.wanted; col.toggle.disabled = varyingOnly && constant; }
      });
      if (select) { select.value = summary; }
    };
    if (box) {
      var groups = {};
      columns.forEach(function (col) {
        if (!groups[col.kind]) {
          groups[col.kind] = document.createElement("fieldset");
          groups[col.kind].className = "rg-toggle-group rg-toggle-" + col.kind;
          var legend = document.createElement("legend");
          legend.textContent = { attr: "Attributes", param: "Params", metric: "Metrics", tag: "Tags" }[col.kind] || col.kind;
          groups[col.kind].appendChild(legend);
          box.appendChild(groups[col.kind]);
        }
        var label = document.createElement("label");
        var input = document.createElement("input");
        input.type = "checkbox";
        input.className = "rg-col-toggle";
        input.checked = col.wanted;
        input.setAttribute("data-col", col.key);
        input.addEventListener("change", function () { col.wanted = input.checked; refresh(); changed(false); });
        label.appendChild(input);
        label.appendChild(document.createTextNode(" " + col.th.textContent.trim()));
        col.toggle = input;
        groups[col.kind].appendChild(label);
      });
    }
    // Metric summary: one choice shows that summary's column of every metric (a theme may bring its own select).
    var select = summaries.length > 1 ? scope.querySelector("select.rg-metric-summary") : null;
    if (summaries.length > 1 && !select) {
      var label = document.createElement("label");
      label.className = "rg-check rg-summary-choice";
      label.textContent = "Metrics: ";
      select = document.createElement("select");
      select.className = "rg-metric-summary";
      label.appendChild(select);
      var place = box ? (box.closest(".rg-columns") || box) : null;
      if (place) { place.insertAdjacentElement("afterend", label); } else { table.parentNode.insertBefore(label, table); }
    }
    var setSummary = function (name) {
      summary = summaries.indexOf(name) !== -1 ? name : "last";
      columns.forEach(function (col) { if (col.kind === "metric") { col.wanted = baseline(col); } });
    };
    if (select) {
      if (!select.options.length) {
        summaries.forEach(function (name) {
          var option = document.createElement("option");
          option.value = name;
          option.textContent = summaryLabel(name);
          select.appendChild(option);
        });
      }
      select.addEventListener("change", function () { setSummary(select.value); refresh(); changed(false); });
    }
    if (onlyVarying) { onlyVarying.addEventListener("change", function () { refresh(); changed(false); }); }
    view.adopted.push(refresh);
    refresh();
    var byKey = Object.create(null);
    columns.forEach(function (col) { byKey[col.key] = col; });
    return {
      byKey: byKey,
      // {summary, varying (null: no box), shown: [keys], hidden: [keys]} against the baseline of the summary
      get: function () {
        var state = { summary: summary, varying: onlyVarying ? onlyVarying.checked : null, shown: [], hidden: [],
                      varyingDefault: onlyVarying ? onlyVarying.defaultChecked : null };
        columns.forEach(function (col) {
          if (col.wanted !== baseline(col)) { (col.wanted ? state.shown : state.hidden).push(col.key); }
        });
        return state;
      },
      set: function (state) {
        setSummary(state.summary);
        columns.forEach(function (col) { col.wanted = baseline(col); });
        state.shown.forEach(function (key) { if (byKey[key]) { byKey[key].wanted = true; } });
        state.hidden.forEach(function (key) { if (byKey[key]) { byKey[key].wanted = false; } });
        if (onlyVarying && state.varying !== null) { onlyVarying.checked = state.varying; }
        refresh();
      }
    };
  }

  function setupCompare(table, scope, view) {
    var button = scope.querySelector(".rg-compare");
    var counter = scope.querySelector(".rg-pick-count");
    var pickAll = scope.querySelector("input.rg-pick-all");
    var base = button ? (button.getAttribute("data-href") || button.getAttribute("href") || "compare.html") : "compare.html";
    base = base.split("?")[0].split("#")[0];
    var picked = function () {  // in the table's order, on every page
      var ids = [];
      view.rows().forEach(function (row) {
        var box = row.querySelector("input.rg-pick");
        if (box && box.checked) { ids.push(box.value); }
      });
      return ids;
    };
    var target = function (ids) { return base + "?runs=" + ids.map(encodeURIComponent).join(","); };
    var update = function () {
      var ids = picked();
      if (counter) { counter.textContent = String(ids.length); }
      if (!button) { return; }
      var ready = ids.length >= 2;
      if (button.tagName === "A") {
        if (ready) { button.setAttribute("href", target(ids)); } else { button.removeAttribute("href"); }
        button.setAttribute("aria-disabled", ready ? "false" : "true");
      } else {
        button.disabled = !ready;
      }
    };
    table.addEventListener("change", function (event) {
      if (event.target.classList && event.target.classList.contains("rg-pick")) { update(); changed(false); }
    });
    if (pickAll) {
      view.shown.push(function () { pickAll.checked = false; });  // another page's rows are not all ticked
      pickAll.addEventListener("change", function () {
        bodyRows(table).forEach(function (row) {
          var box = row.querySelector("input.rg-pick");
          if (box && !row.hidden) { box.checked = pickAll.checked; }
        });
        update();
        changed(false);
      });
    }
    if (button && button.tagName !== "A") {
      button.addEventListener("click", function () {
        var ids = picked();
        if (ids.length >= 1) { window.location.href = target(ids); }
      });
    }
    update();
    window.addEventListener("pageshow", update);  // ticks restored by the back button fire no change event
    var tick = function (ids) {  // true when every id was found
      var wanted = Object.create(null), found = 0;
      ids.forEach(function (id) { wanted[id] = true; });
      view.rows().forEach(function (row) {
        var box = row.querySelector("input.rg-pick");
        if (!box) { return; }
        box.checked = wanted[box.value] === true;
        if (box.checked) { found += 1; }
      });
      update();
      return found === ids.length;
    };
    return {
      get: picked,
      // Runs ticked on other static pages are among the rows only once every row is loaded.
      set: function (ids) { if (!tick(ids) && view.split && !view.all) { view.ensure(function () { tick(ids); }); } }
    };
  }

  // A change of the view: viewstate.js (if the page has it) writes the URL fragment; runs-state.js says what
  // of this table goes there. typing: an edit of the filter box (one history entry per burst).
  function changed(typing) {
    if (window.reportgenViewState) { window.reportgenViewState.changed(typing); }
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("table.rg-runs[data-table]"), function (table) {
      var headers = headerCells(table);
      var scope = scopeOf(table);
      var view = makeView(table, scope);
      var ctl = { sort: setupSort(table, headers, view), filter: setupFilter(table, scope, view),
                  columns: setupColumns(table, headers, scope, view), picks: setupCompare(table, scope, view) };
      // runs-state.js takes it from here: the view from the URL fragment is applied before data-ready.
      table.rgTable = { view: view, controls: ctl, pagers: staticPagers(scope) };
      table.dispatchEvent(new CustomEvent("reportgen:runs-table", { bubbles: true }));
      table.setAttribute("data-ready", "true");
      table.setAttribute("data-ready-ms", String(Math.round(performance.now())));
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
