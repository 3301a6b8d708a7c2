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
 * Extras beyond the contract: header cells sort on click or Enter (aria-sort tells which way); a header
 * checkbox .rg-pick-all, if present, ticks every visible row.
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

  function setupSort(table, headers) {
    headers.forEach(function (th) {
      if (!th.hasAttribute("data-col")) { return; }
      th.tabIndex = 0;
      th.classList.add("rg-sortable");
      th.setAttribute("aria-sort", "none");
      th.title = th.title || "Sort by this column";
      var sort = function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        var index = th.cellIndex;
        headers.forEach(function (other) { if (other.hasAttribute("aria-sort")) { other.setAttribute("aria-sort", "none"); } });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        Array.prototype.forEach.call(table.tBodies, function (body) {
          var rows = Array.prototype.filter.call(body.rows, function (r) { return r.hasAttribute("data-run-id"); });
          var keyed = rows.map(function (row, position) { return [sortKey(cellValue(row, index)), position, row]; });
          keyed.sort(function (a, b) {
            // Empty cells stay last in both directions; ties keep their previous order (stable).
            var emptyA = a[0][0] === 3, emptyB = b[0][0] === 3;
            if (emptyA !== emptyB) { return emptyA ? 1 : -1; }
            var c = compareKeys(a[0], b[0]);
            return (ascending ? c : -c) || a[1] - b[1];
          });
          // Nested runs stay under their parent: siblings are sorted among themselves, depth first.
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
          var fragment = document.createDocumentFragment();
          var placed = {};
          var place = function (row) {
            var id = row.getAttribute("data-run-id");
            if (placed[id]) { return; }  // a parent cycle in the data must not loop
            placed[id] = true;
            fragment.appendChild(row);
            (children[id] || []).forEach(place);
          };
          roots.forEach(place);
          rows.forEach(function (row) { if (!placed[row.getAttribute("data-run-id")]) { fragment.appendChild(row); } });
          body.appendChild(fragment);
        });
      };
      th.addEventListener("click", function (event) {
        if (event.target.closest && event.target.closest("input, a, button")) { return; }
        sort();
      });
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
      });
    });
  }

  function setupFilter(table, scope) {
    var box = scope.querySelector("input.rg-filter");
    if (!box) { return; }
    var rows = bodyRows(table);
    var texts = null;
    var apply = function () {
      if (texts === null) { texts = rows.map(function (row) { return row.textContent.toLowerCase(); }); }
      var terms = box.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      rows.forEach(function (row, i) {
        var match = terms.every(function (term) { return texts[i].indexOf(term) !== -1; });
        row.hidden = !match;
        if (match) { shown += 1; }
      });
      table.setAttribute("data-shown-rows", String(shown));
    };
    box.addEventListener("input", apply);
    if (box.value) { apply(); }
    // Back from the compare page the browser restores the typed filter without an input event.
    window.addEventListener("pageshow", function () { if (box.value) { apply(); } });
  }

  function setColumnHidden(table, index, hidden) {
    Array.prototype.forEach.call(table.rows, function (row) {
      var cell = row.cells[index];
      if (cell) { cell.hidden = hidden; }
    });
  }

  function setupColumns(table, headers, scope) {
    var box = scope.querySelector(".rg-column-toggles");
    var onlyVarying = scope.querySelector("input.rg-only-varying");
    var columns = headers.filter(function (th) { return th.hasAttribute("data-col"); }).map(function (th) {
      return { th: th, index: th.cellIndex, kind: th.getAttribute("data-kind") || "attr", wanted: !th.hidden, toggle: null };
    });
    var refresh = function () {
      var varyingOnly = !!(onlyVarying && onlyVarying.checked);
      columns.forEach(function (col) {
        var constant = col.kind === "param" && col.th.getAttribute("data-varies") === "false";
        var hidden = !col.wanted || (varyingOnly && constant);
        setColumnHidden(table, col.index, hidden);
        if (col.toggle) { col.toggle.checked = col.wanted; col.toggle.disabled = varyingOnly && constant; }
      });
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
        input.setAttribute("data-col", col.th.getAttribute("data-col"));
        input.addEventListener("change", function () { col.wanted = input.checked; refresh(); });
        label.appendChild(input);
        label.appendChild(document.createTextNode(" " + col.th.textContent.trim()));
        col.toggle = input;
        groups[col.kind].appendChild(label);
      });
    }
    if (onlyVarying) { onlyVarying.addEventListener("change", refresh); }
    refresh();
  }

  function setupCompare(table, scope) {
    var button = scope.querySelector(".rg-compare");
    var counter = scope.querySelector(".rg-pick-count");
    var pickAll = scope.querySelector("input.rg-pick-all");
    var base = button ? (button.getAttribute("data-href") || button.getAttribute("href") || "compare.html") : "compare.html";
    base = base.split("?")[0].split("#")[0];
    var picked = function () {
      return Array.prototype.map.call(table.querySelectorAll("input.rg-pick:checked"), function (box) { return box.value; });
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
      if (event.target.classList && event.target.classList.contains("rg-pick")) { update(); }
    });
    if (pickAll) {
      pickAll.addEventListener("change", function () {
        bodyRows(table).forEach(function (row) {
          var box = row.querySelector("input.rg-pick");
          if (box && !row.hidden) { box.checked = pickAll.checked; }
        });
        update();
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
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("table.rg-runs[data-table]"), function (table) {
      var headers = headerCells(table);
      var scope = scopeOf(table);
      setupSort(table, headers);
      setupFilter(table, scope);
      setupColumns(table, headers, scope);
      setupCompare(table, scope);
      table.setAttribute("data-ready", "true");
      table.setAttribute("data-ready-ms", String(Math.round(performance.now())));
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
