/* reportgen runs table over several static pages (runs-NNN.html, above 250 runs): the rows of every page, loaded
 * from the table's data-rows-src script on the first sort, filter or page change, and this script's pager in
 * place of the static one. runs-table.js asks for it through window.reportgenRunsPages: makeView(table, scope,
 * bodyRows) gives the view its controls work on ({rows(), ensure(then), show(), all, page, split, ...}), and
 * staticPagers(scope) the static pagers (runs-state.js makes their links carry the view).
 */
(function () {
  "use strict";

  // A page change is view state (viewstate.js keeps it in the URL fragment, when the page has it).
  function changed(typing) {
    if (window.reportgenViewState) { window.reportgenViewState.changed(typing); }
  }

  // Rows of a table split over several static pages: the <table data-rows-src="SCRIPT"> names a script that
  // calls reportgenRunsRows({pageSize: N, rows: ["<tr ...>", ...]}) with every row of the experiment. It is
  // added on the first sort, filter or page change (file:// pages cannot fetch, but can add a script); from
  // then on the table holds the rows that pass the filter, in the current order, pageSize at a time, with
  // this script's pager in place of the static one. A row keeps its element (and its tick) once made.
  var delivered = null;
  window.reportgenRunsRows = function (data) { delivered = data; };

  function loadRows(src, done, failed) {
    var script = document.createElement("script");
    script.src = src;
    // The script's load event follows its run at once: what it delivered is these rows.
    script.onload = function () {
      var data = delivered;
      delivered = null;
      script.remove();
      if (data && Array.isArray(data.rows)) { done(data); } else { failed(); }
    };
    script.onerror = function () { script.remove(); failed(); };
    document.head.appendChild(script);
  }

  function makeView(table, scope, bodyRows) {
    var body = table.tBodies[0];
    var src = table.getAttribute("data-rows-src");
    var view = { table: table, all: null, page: 0, pageSize: 250, split: !!(src && body), waiting: [], adopted: [], shown: [], pagers: [] };
    // Every row in the current order (the page's own rows until the whole table is loaded).
    view.rows = function () { return view.all || bodyRows(table); };
    // then(whole): whole is true once every row is here, false when they could not be loaded.
    view.ensure = function (then) {
      if (view.all || !view.split) { then(!!view.all); return; }
      view.waiting.push(then);
      if (view.waiting.length > 1) { return; }
      var finish = function (whole) {
        var waiting = view.waiting;
        view.waiting = [];
        waiting.forEach(function (callback) { callback(whole); });
        if (whole) { table.setAttribute("data-all-rows", "true"); }
      };
      loadRows(src, function (data) {
        var mine = {};
        bodyRows(table).forEach(function (row) { mine[row.getAttribute("data-run-id")] = row; });
        var template = document.createElement("template");
        template.innerHTML = data.rows.join("");
        view.all = Array.prototype.filter.call(template.content.children, function (row) {
          return row.tagName === "TR" && row.hasAttribute("data-run-id");
        }).map(function (row) { return mine[row.getAttribute("data-run-id")] || row; });
        if (data.pageSize > 0) { view.pageSize = data.pageSize; }
        view.adopted.forEach(function (callback) { callback(); });
        view.show();
        finish(true);
      }, function () {
        view.split = false;
        console.warn("reportgen: " + src + " did not load; sorting and filtering this page's runs only");
        finish(false);
      });
    };
    // Puts the current page of the rows that pass the filter into the table.
    view.show = function () {
      if (!view.all) { return; }
      var shown = view.all.filter(function (row) { return !row.hidden; });
      var pages = Math.max(1, Math.ceil(shown.length / view.pageSize));
      view.page = Math.max(0, Math.min(view.page, pages - 1));
      var fragment = document.createDocumentFragment();
      shown.slice(view.page * view.pageSize, (view.page + 1) * view.pageSize).forEach(function (row) {
        fragment.appendChild(row);
      });
      body.textContent = "";
      body.appendChild(fragment);
      drawPagers(view, scope, pages, shown.length);
      view.shown.forEach(function (callback) { callback(); });
    };
    if (view.split) { catchPagerLinks(view, scope); }
    return view;
  }

  function staticPagers(scope) {
    return Array.prototype.filter.call(scope.querySelectorAll("nav.rg-pager"), function (nav) {
      return !nav.classList.contains("rg-js-pager");
    });
  }

  // A static page link shows that page here, so the ticks on this page stay; it still navigates when the
  // rows cannot be loaded, or when it is opened in another tab.
  function catchPagerLinks(view, scope) {
    staticPagers(scope).forEach(function (nav) {
      nav.addEventListener("click", function (event) {
        var link = event.target.closest ? event.target.closest("a[href]") : null;
        if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) { return; }
        var number = parseInt(link.textContent, 10);
        if (!(number >= 1)) { return; }
        event.preventDefault();
        view.ensure(function (whole) {
          if (!whole) { window.location.href = link.href; return; }
          view.page = number - 1;
          view.show();
          changed(false);
        });
      });
    });
  }

  function drawPagers(view, scope, pages, shown) {
    if (!view.pagers.length) {
      // This pager takes the static one's place (a theme without one gets it above the table).
      var places = staticPagers(scope);
      (places.length ? places : [null]).forEach(function (nav) {
        var mine = document.createElement("nav");
        mine.className = "rg-pager rg-js-pager";
        mine.setAttribute("aria-label", "Pages of runs");
        mine.addEventListener("click", function (event) {
          var button = event.target.closest ? event.target.closest("button[data-page]") : null;
          if (!button) { return; }
          view.page = parseInt(button.getAttribute("data-page"), 10) - 1;
          view.show();
          changed(false);
          if (mine !== view.pagers[0]) { view.pagers[0].scrollIntoView(); }
        });
        if (nav) { nav.replaceWith(mine); } else { view.table.parentNode.insertBefore(mine, view.table); }
        view.pagers.push(mine);
      });
    }
    var total = view.all.length;
    view.pagers.forEach(function (nav) {
      nav.textContent = "Page ";
      for (var n = 1; n <= pages; n += 1) {
        var item;
        if (n === view.page + 1) {
          item = document.createElement("strong");
          item.setAttribute("aria-current", "page");
        } else {
          item = document.createElement("button");
          item.type = "button";
          item.className = "rg-page-button";
          item.setAttribute("data-page", String(n));
        }
        item.textContent = String(n);
        nav.appendChild(item);
        nav.appendChild(document.createTextNode(" "));
      }
      nav.appendChild(document.createTextNode("of " + pages + " (" + (shown === total ? total + " runs)" :
        shown + " of " + total + " runs match)")));
    });
  }

  window.reportgenRunsPages = { makeView: makeView, staticPagers: staticPagers };
})();
