/* reportgen view state: the page's view (filter, sort, columns, ticks, chart options, compared runs, the image
 * grid's step) kept in the URL fragment, so a copied link reopens the same view from file:// or any static host (a
 * fragment never reaches a server and needs none), and the back button steps through changes.
 * Also the "copy link" button.
 *
 * API for the page scripts, window.reportgenViewState:
 *   register(load, save): load(params) applies a URLSearchParams of the fragment to the owner's part of the
 *     view (at once, and again after back/forward); save(params, current) appends the owner's non-default
 *     values to a fresh URLSearchParams (current: the fragment as it is, to carry what the owner keeps
 *     pending). Every value read is untrusted: owners compare it with what exists and never insert it as HTML.
 *   changed(typing): the view changed; a new history entry, or, while typing, one entry per burst of edits
 *     (written once the typing pauses) so history is not flooded.
 *   params(): the fragment as URLSearchParams.   fragment(params): "#..." for a params object ("" if empty).
 * Markup: <button class="rg-copy-link" hidden> anywhere on a page; shown and wired here (hidden without
 * JavaScript, as it could not work).
 */
(function () {
  "use strict";

  var TYPING_PAUSE_MS = 400;
  var owners = [];
  var typingTimer = null;
  var lastWasTyping = false;
  var loading = false;  // owners applying a fragment: their controls' changes are not new history entries

  function params() {
    // URLSearchParams never throws: malformed %-escapes become U+FFFD, which match nothing.
    return new URLSearchParams(window.location.hash.replace(/^#/, ""));
  }

  // A plain in-page anchor (#section, no "=") is not view state: following one must not reset the view.
  function isState(hash) { return hash.indexOf("=") !== -1; }

  function fragment(values) {
    // ":" and "," read back as themselves and are legal in a fragment: column keys and run lists stay legible.
    var text = values.toString().replace(/%3A/g, ":").replace(/%2C/g, ",");
    return text ? "#" + text : "";
  }

  function compose() {
    var current = params();
    var values = new URLSearchParams();
    owners.forEach(function (owner) {
      try { owner.save(values, current); } catch (err) { console.warn("reportgen: view state not saved", err); }
    });
    return values;
  }

  function write(push) {
    var hash = fragment(compose());
    if (hash === window.location.hash || (!hash && !window.location.hash)) { return; }
    // The URL without the old fragment: the query (compare.html?runs=...) stays.
    var url = window.location.href.split("#")[0] + hash;
    try {
      if (push) { history.pushState(null, "", url); } else { history.replaceState(null, "", url); }
    } catch (err) {
      // Some browsers refuse history writes on file:// pages; the view still works, the link just lags.
      return;
    }
    document.dispatchEvent(new CustomEvent("reportgen:viewstate"));
  }

  function flushTyping() {
    if (typingTimer === null) { return; }
    clearTimeout(typingTimer);
    typingTimer = null;
    write(!lastWasTyping);
    lastWasTyping = true;
  }

  function changed(typing) {
    if (loading) { return; }
    if (typing) {
      clearTimeout(typingTimer);
      typingTimer = setTimeout(flushTyping, TYPING_PAUSE_MS);
      return;
    }
    flushTyping();
    lastWasTyping = false;
    write(true);
  }

  function apply(load, current) {
    loading = true;
    try {
      load(current);
    } catch (err) {
      console.warn("reportgen: view state not restored", err);
    } finally {
      loading = false;
    }
  }

  function register(load, save) {
    owners.push({ load: load, save: save });
    if (isState(window.location.hash)) { apply(load, params()); }
  }

  // Back/forward (and a fragment edited by hand): every owner reapplies the fragment.
  window.addEventListener("popstate", function () {
    if (window.location.hash && !isState(window.location.hash)) { return; }
    clearTimeout(typingTimer);
    typingTimer = null;
    lastWasTyping = false;
    var current = params();
    owners.forEach(function (owner) { apply(owner.load, current); });
    document.dispatchEvent(new CustomEvent("reportgen:viewstate"));
  });

  // Copy link: the clipboard API when the page may use it, else a selected text field with the URL
  // (file:// pages get no clipboard permission in some browsers, and old ones have no API).
  function showField(button, url) {
    var field = button.rgField;
    if (!field) {
      field = document.createElement("input");
      field.type = "text";
      field.readOnly = true;
      field.className = "rg-link-field";
      field.setAttribute("aria-label", "Link to this view");
      button.insertAdjacentElement("afterend", field);
      button.rgField = field;
    }
    field.hidden = false;
    field.value = url;
    field.focus();
    field.select();
  }

  function copyLink(button, status) {
    flushTyping();
    var url = window.location.href;
    button.setAttribute("data-copied-url", url);
    var fallback = function () {
      showField(button, url);
      status.textContent = "Copy the selected link";
    };
    if (navigator.clipboard && navigator.clipboard.writeText && window.isSecureContext) {
      navigator.clipboard.writeText(url).then(function () {
        if (button.rgField) { button.rgField.hidden = true; }
        status.textContent = "Link copied";
      }, fallback);
    } else {
      fallback();
    }
  }

  function setupCopyButtons() {
    Array.prototype.forEach.call(document.querySelectorAll(".rg-copy-link"), function (button) {
      var status = document.createElement("span");
      status.className = "rg-copy-status";
      status.setAttribute("role", "status");
      button.insertAdjacentElement("afterend", status);
      button.hidden = false;
      button.addEventListener("click", function () { copyLink(button, status); });
      // A stale "Link copied" would claim the new view was copied.
      document.addEventListener("reportgen:viewstate", function () {
        status.textContent = "";
        if (button.rgField) { button.rgField.hidden = true; }
      });
    });
  }

  window.reportgenViewState = { register: register, changed: changed, params: params, fragment: fragment };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setupCopyButtons);
  } else {
    setupCopyButtons();
  }
})();
