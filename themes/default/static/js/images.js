/* reportgen images per step: a step slider on each strip of the run page, and the grid of runs (columns)
 * by keys (rows) under one step slider on the experiment and compare pages.
 *
 * Frames data (reportgen/site/pages/image_steps.py): {"files": URL of a run's copied files folder,
 * "thumbs": URL of its thumbnails folder, "keys": {key: [[step, name], ...] in step order}}; a frame's
 * full image is files + name, its thumbnail thumbs + name + ".webp". URLs are relative to the page.
 *  - Run page: figure.rg-image-strip holding script.rg-image-frames (one key) and a hidden
 *    label.rg-step-control with input.rg-step-slider; the slider walks the key's steps.
 *  - Experiment page: section.rg-step-grid holding script.rg-image-grid-data ({"runs": [{"run_id", "name",
 *    "url", "image_steps": frames data}]}): the section is replaced by the interactive grid.
 *  - Compare page: compare.js calls window.reportgenImages.grid(runs) with the runs chosen there (each
 *    with an optional "image_steps") and places the section it returns (null when none has images).
 * One slider for the whole grid: its positions are every step any shown run logged; each cell shows its
 * run's image of that key at the nearest step at or below. Text goes in through textContent only.
 * View state (viewstate.js): the grid's step is "step=N" in the URL fragment when it is not the last step; a
 * link's N is read as an integer and shown as the nearest step at or below (the first step if N is before all).
 */
(function () {
  "use strict";

  var NAME = /^[A-Za-z0-9._-]+$/;  // copy names are made of these (safe_file_name); anything else is dropped

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function relativeUrl(url) {
    return typeof url === "string" && url !== "" && !/^[a-z][a-z0-9+.-]*:/i.test(url) && url.indexOf("//") !== 0;
  }

  // The frames of one key, checked: [[step, name], ...] with integer steps in increasing order.
  function cleanFrames(frames) {
    if (!Array.isArray(frames)) { return []; }
    var out = [];
    frames.forEach(function (frame) {
      if (Array.isArray(frame) && Number.isInteger(frame[0]) && typeof frame[1] === "string" && NAME.test(frame[1]) &&
          (!out.length || frame[0] > out[out.length - 1][0])) {
        out.push([frame[0], frame[1]]);
      }
    });
    return out;
  }

  // {files, thumbs, keys: {key: frames}} checked, or null.
  function cleanSteps(data) {
    if (!data || typeof data !== "object" || !relativeUrl(data.files) || !relativeUrl(data.thumbs) ||
        !data.keys || typeof data.keys !== "object") { return null; }
    var keys = {};
    Object.keys(data.keys).forEach(function (key) {
      var frames = cleanFrames(data.keys[key]);
      if (frames.length) { keys[key] = frames; }
    });
    return Object.keys(keys).length ? { files: data.files, thumbs: data.thumbs, keys: keys } : null;
  }

  // Index of the last frame whose step is at or below `step`; -1 when every frame comes later.
  function frameAt(frames, step) {
    var lo = 0, hi = frames.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (frames[mid][0] <= step) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found;
  }

  function showFrame(link, img, steps, frame, alt) {
    link.setAttribute("href", steps.files + frame[1]);
    img.setAttribute("src", steps.thumbs + frame[1] + ".webp");
    img.setAttribute("alt", alt);
  }

  function parseBlock(block) {
    try {
      return JSON.parse(block.textContent);
    } catch (err) {
      console.error("reportgen: an image data block is not valid JSON", err);
      return null;
    }
  }

  function slider(max, value, label) {
    var wrap = el("label", "rg-step-control");
    wrap.appendChild(document.createTextNode(label + " "));
    var input = el("input", "rg-step-slider");
    input.type = "range";
    input.min = "0";
    input.max = String(max);
    input.step = "1";
    input.value = String(value);
    wrap.appendChild(input);
    return { label: wrap, input: input };
  }

  // -- run page: one strip per key ------------------------------------------------------------------

  function initStrip(figure) {
    var block = figure.querySelector("script.rg-image-frames");
    var input = figure.querySelector("input.rg-step-slider");
    var link = figure.querySelector("a.rg-image-full");
    var img = figure.querySelector("img.rg-image-thumb");
    var caption = figure.querySelector(".rg-image-step");
    var steps = block && cleanSteps(parseBlock(block));
    if (!steps || !input || !link || !img) { return; }
    var key = Object.keys(steps.keys)[0];
    var frames = steps.keys[key];
    input.max = String(frames.length - 1);
    input.value = String(frames.length - 1);
    function update() {
      var frame = frames[Math.max(0, Math.min(frames.length - 1, parseInt(input.value, 10) || 0))];
      showFrame(link, img, steps, frame, key + ", step " + frame[0]);
      if (caption) { caption.textContent = "step " + frame[0]; }
      input.setAttribute("aria-valuetext", "step " + frame[0]);
      figure.setAttribute("data-step", String(frame[0]));
    }
    input.addEventListener("input", update);
    update();
    input.closest("label").hidden = frames.length < 2;
    figure.setAttribute("data-ready", "true");
  }

  // -- the grid: runs as columns, keys as rows, one slider ------------------------------------------

  function grid(runs) {
    var shown = [];
    (Array.isArray(runs) ? runs : []).forEach(function (run) {
      var steps = run && cleanSteps(run.image_steps);
      if (steps) { shown.push({ run: run, steps: steps }); }
    });
    if (!shown.length) { return null; }
    var keySet = {}, stepSet = {};
    shown.forEach(function (item) {
      Object.keys(item.steps.keys).forEach(function (key) {
        keySet[key] = true;
        item.steps.keys[key].forEach(function (frame) { stepSet[frame[0]] = true; });
      });
    });
    var keys = Object.keys(keySet).sort();
    var allSteps = Object.keys(stepSet).map(Number).sort(function (a, b) { return a - b; });

    var section = el("section", "rg-step-grid");
    section.setAttribute("aria-label", "Images by step");
    section.appendChild(el("h2", "", "Images by step"));
    var control = slider(allSteps.length - 1, allSteps.length - 1, "Step");
    var shownStep = el("output", "rg-step-value");
    control.label.appendChild(document.createTextNode(" "));
    control.label.appendChild(shownStep);
    control.label.hidden = allSteps.length < 2;
    section.appendChild(control.label);
    section.appendChild(el("p", "rg-meta rg-step-grid-note",
      "Each cell shows its run's image at the nearest step at or below the chosen one; a click opens the full image."));
    var wrap = el("div", "rg-table-wrap");
    var table = el("table", "rg-image-steps");
    var head = table.createTHead().insertRow();
    head.appendChild(el("th", "", "Key")).setAttribute("scope", "col");
    shown.forEach(function (item) {
      var th = el("th");
      th.setAttribute("scope", "col");
      th.setAttribute("data-run-id", String(item.run.run_id));
      var name = item.run.name || String(item.run.run_id).slice(0, 8);
      if (relativeUrl(item.run.url)) {
        var a = el("a", "", name);
        a.setAttribute("href", item.run.url);
        th.appendChild(a);
      } else {
        th.textContent = name;
      }
      head.appendChild(th);
    });
    var body = table.createTBody();
    var cells = [];
    keys.forEach(function (key) {
      var row = body.insertRow();
      row.setAttribute("data-key", key);
      var th = el("th", "", key);
      th.setAttribute("scope", "row");
      row.appendChild(th);
      shown.forEach(function (item) {
        var td = row.insertCell();
        td.setAttribute("data-run-id", String(item.run.run_id));
        var link = el("a"), img = el("img"), note = el("span", "rg-meta");
        img.loading = "lazy";
        link.appendChild(img);
        td.appendChild(link);
        td.appendChild(note);
        cells.push({ td: td, link: link, img: img, note: note, key: key, item: item,
                     frames: item.steps.keys[key] || [], name: item.run.name || String(item.run.run_id).slice(0, 8) });
      });
    });
    wrap.appendChild(table);
    section.appendChild(wrap);

    function update() {
      var index = Math.max(0, Math.min(allSteps.length - 1, parseInt(control.input.value, 10) || 0));
      var step = allSteps[index];
      shownStep.textContent = String(step);
      control.input.setAttribute("aria-valuetext", "step " + step);
      section.setAttribute("data-step", String(step));
      cells.forEach(function (cell) {
        var at = frameAt(cell.frames, step);
        cell.link.hidden = at < 0;
        cell.td.classList.toggle("rg-missing", at < 0);
        if (at < 0) {
          cell.td.removeAttribute("data-step");
          cell.note.textContent = cell.frames.length ? "first image at step " + cell.frames[0][0] : "\u2014";
          return;
        }
        var frame = cell.frames[at];
        showFrame(cell.link, cell.img, cell.item.steps, frame, cell.key + ", " + cell.name + ", step " + frame[0]);
        cell.td.setAttribute("data-step", String(frame[0]));
        cell.note.textContent = "step " + frame[0];
      });
    }
    control.input.addEventListener("input", function () {
      update();
      if (window.reportgenViewState) { window.reportgenViewState.changed(true); }  // a drag: one entry a burst
    });
    control.input.addEventListener("change", function () {
      if (window.reportgenViewState) { window.reportgenViewState.changed(false); }
    });
    update();
    section.setAttribute("data-ready", "true");
    shownGrid = { input: control.input, steps: allSteps, update: update };
    registerStep();
    return section;
  }

  // -- the grid's step in the URL fragment ----------------------------------------------------------

  // The grid last built: its page places it once built (the experiment page in place of its static grid,
  // compare.js after choosing its runs), so a link's step is applied to it before it is in the document.
  var shownGrid = null;
  var registered = false;

  function loadStep(params) {
    if (!shownGrid) { return; }
    var last = shownGrid.steps.length - 1;
    var text = params.get("step");
    var wanted = /^-?[0-9]{1,15}$/.test(text || "") ? parseInt(text, 10) : null;
    var index = wanted === null ? last : Math.max(0, frameAt(shownGrid.steps.map(function (s) { return [s]; }), wanted));
    shownGrid.input.value = String(index);
    shownGrid.update();
  }

  function saveStep(params) {
    if (!shownGrid) { return; }
    var index = parseInt(shownGrid.input.value, 10);
    if (index < shownGrid.steps.length - 1) { params.set("step", String(shownGrid.steps[index])); }
  }

  function registerStep() {
    if (registered || !window.reportgenViewState) { return; }
    registered = true;
    window.reportgenViewState.register(loadStep, saveStep);
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("figure.rg-image-strip"), initStrip);
    Array.prototype.forEach.call(document.querySelectorAll("section.rg-step-grid"), function (section) {
      var block = section.querySelector("script.rg-image-grid-data");
      var data = block && parseBlock(block);
      if (!data) { return; }
      var built = grid(data.runs);
      if (built) { section.replaceWith(built); }
    });
  }

  window.reportgenImages = { grid: grid };
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
