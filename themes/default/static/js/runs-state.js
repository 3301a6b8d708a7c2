/* reportgen runs table <-> URL fragment: what of the experiment page's runs table a link carries (through
 * viewstate.js), and how a link's values are applied to the table's controls (table.rgTable, runs-table.js).
 *
 * Keys: q filter text; sort column key, dir=desc; sum metric summary; vary=1|0 "only params that vary" when
 * not the page's default; show/hide (repeated) columns toggled against the summary's defaults; pick ticked run
 * ids, comma-separated; page of a table paged here (split tables). Only the first runs table of a page has a
 * state. Values from a link are looked up among the table's columns and runs, never used as markup.
 */
(function () {
  "use strict";

  var MAX_FILTER = 1000;

  function uniqueIds(text) {
    var seen = Object.create(null);
    return (text || "").split(",").filter(function (id) {
      if (!id || seen[id]) { return false; }
      seen[id] = true;
      return true;
    });
  }

  function connect(table) {
    var state = window.reportgenViewState;
    var view = table.rgTable.view, ctl = table.rgTable.controls;
    var load = function (params) {
      if (ctl.filter) { ctl.filter.set((params.get("q") || "").slice(0, MAX_FILTER)); }
      var col = ctl.columns.byKey[params.get("sort")];
      ctl.sort.set(col ? col.th : null, params.get("dir") !== "desc");
      var vary = params.get("vary");
      var columns = ctl.columns.get();
      ctl.columns.set({ summary: params.get("sum") || "last",
                        varying: vary === "1" ? true : vary === "0" ? false : columns.varyingDefault,
                        shown: params.getAll("show"), hidden: params.getAll("hide") });
      ctl.picks.set(uniqueIds(params.get("pick")));
      // After filter and sort, which go back to the first page.
      var page = parseInt(params.get("page"), 10);
      if (view.all || (page >= 2 && view.split)) {
        view.ensure(function (whole) {
          if (!whole) { return; }
          view.page = page >= 2 ? page - 1 : 0;  // view.show clamps a page past the end
          view.show();
        });
      }
    };
    var save = function (params) {
      var text = ctl.filter ? ctl.filter.get() : "";
      if (text) { params.set("q", text); }
      var sort = ctl.sort.get();
      if (sort) {
        params.set("sort", sort.th.getAttribute("data-col"));
        if (!sort.ascending) { params.set("dir", "desc"); }
      }
      var columns = ctl.columns.get();
      if (columns.summary !== "last") { params.set("sum", columns.summary); }
      if (columns.varying !== columns.varyingDefault) { params.set("vary", columns.varying ? "1" : "0"); }
      columns.shown.forEach(function (key) { params.append("show", key); });
      columns.hidden.forEach(function (key) { params.append("hide", key); });
      var picks = ctl.picks.get();
      if (picks.length) { params.set("pick", picks.join(",")); }
      if (view.all && view.page > 0) { params.set("page", String(view.page + 1)); }
    };
    state.register(load, save);

    // A static page link (opened in a new tab, or followed when the rows cannot load here) carries the view
    // but its page number, which the link itself replaces.
    var links = [];
    table.rgTable.pagers.forEach(function (nav) {
      Array.prototype.forEach.call(nav.querySelectorAll("a[href]"), function (link) {
        links.push([link, link.getAttribute("href").split("#")[0]]);
      });
    });
    var relink = function () {
      var params = state.params();
      params.delete("page");
      links.forEach(function (pair) { pair[0].setAttribute("href", pair[1] + state.fragment(params)); });
    };
    document.addEventListener("reportgen:viewstate", relink);
    relink();
  }

  var connected = false;
  document.addEventListener("reportgen:runs-table", function (event) {
    if (connected || !window.reportgenViewState || !event.target.rgTable) { return; }
    connected = true;
    connect(event.target);
  });
})();
