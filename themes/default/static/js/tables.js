/* reportgen logged tables (log_table previews on a run page): sort by a header, page through long tables.
 *
 * Markup contract (rendered by _logged_table.html): <table class="rg-logged-table" data-page-rows="N"> with
 * one header row and every row of the table in its body, those past the first N carrying `hidden`; an
 * optional <p class="rg-table-note"> right after the table's wrapper, which this script replaces by a pager.
 * Sorting follows the runs table's order: numbers (as numbers) before text, empty cells last both ways.
 */
(function () {
  "use strict";

  function sortKey(text) {
    // [rank, number, text]: numbers first, then text; empty cells are ranked apart by the caller.
    var number = Number(text);
    if (text !== "" && !isNaN(number)) { return [0, number, ""]; }
    if (text === "NaN") { return [1, 0, ""]; }
    return [2, 0, text.toLowerCase()];
  }

  function compareKeys(a, b) {
    if (a[0] !== b[0]) { return a[0] - b[0]; }
    if (a[1] !== b[1]) { return a[1] < b[1] ? -1 : 1; }
    if (a[2] !== b[2]) { return a[2] < b[2] ? -1 : 1; }
    return 0;
  }

  function setup(table) {
    var body = table.tBodies[0];
    var head = table.tHead && table.tHead.rows[0];
    if (!body || !head) { return; }
    var pageSize = parseInt(table.getAttribute("data-page-rows"), 10) || 500;
    var rows = Array.prototype.slice.call(body.rows);
    var pages = Math.max(1, Math.ceil(rows.length / pageSize));
    var page = 0;
    var pager = null;
    var wrap = table.parentElement;
    var note = wrap && wrap.nextElementSibling && wrap.nextElementSibling.classList.contains("rg-table-note")
      ? wrap.nextElementSibling : null;

    function show() {
      var fragment = document.createDocumentFragment();
      rows.forEach(function (row, index) {
        row.hidden = Math.floor(index / pageSize) !== page;
        fragment.appendChild(row);
      });
      body.appendChild(fragment);
      if (!pager) { return; }
      pager.textContent = "Page ";
      for (var n = 1; n <= pages; n += 1) {
        var item;
        if (n === page + 1) {
          item = document.createElement("strong");
          item.setAttribute("aria-current", "page");
        } else {
          item = document.createElement("button");
          item.type = "button";
          item.className = "rg-page-button";
          item.setAttribute("data-page", String(n));
        }
        item.textContent = String(n);
        pager.appendChild(item);
        pager.appendChild(document.createTextNode(" "));
      }
      pager.appendChild(document.createTextNode("of " + pages + " (" + rows.length + " rows)"));
    }

    if (pages > 1) {
      pager = document.createElement("nav");
      pager.className = "rg-pager rg-js-pager rg-table-pager";
      pager.setAttribute("aria-label", "Pages of this table");
      pager.addEventListener("click", function (event) {
        var button = event.target.closest ? event.target.closest("button[data-page]") : null;
        if (!button) { return; }
        page = parseInt(button.getAttribute("data-page"), 10) - 1;
        show();
      });
      if (note) { note.replaceWith(pager); } else { wrap.parentNode.insertBefore(pager, wrap.nextSibling); }
    }

    var headers = Array.prototype.slice.call(head.cells);
    headers.forEach(function (th) {
      th.tabIndex = 0;
      th.classList.add("rg-sortable");
      th.setAttribute("aria-sort", "none");
      th.title = th.title || "Sort by this column";
      var sort = function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        var index = th.cellIndex;
        headers.forEach(function (other) { other.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var keyed = rows.map(function (row, position) {
          var cell = row.cells[index];
          var text = cell ? cell.textContent.trim() : "";
          return [text === "", sortKey(text), position, row];
        });
        keyed.sort(function (a, b) {
          if (a[0] !== b[0]) { return a[0] ? 1 : -1; }
          var c = compareKeys(a[1], b[1]);
          return (ascending ? c : -c) || a[2] - b[2];  // ties keep their previous order
        });
        rows = keyed.map(function (k) { return k[3]; });
        page = 0;
        show();
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
      });
    });
    show();
    table.setAttribute("data-ready", "true");
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("table.rg-logged-table"), setup);
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
