/* healthdeck console: keeps a page live. It computes no number: on each evaluation the server
   streams, and on the persona's refresh period, it asks the server for the page's live part again
   and swaps it in. It also says how old the numbers are, and when the server cannot be reached. */
(function () {
  "use strict";

  var PARTIAL = { "X-Healthdeck-Partial": "1" };

  function signInFromFragment() {
    // `serve --demo` prints a link ending in #token=…: browsers never send a fragment to a server.
    var form = document.querySelector("form.login");
    var match = /^#token=(.+)$/.exec(window.location.hash);
    if (!form || !match) return;
    history.replaceState(null, "", window.location.pathname + window.location.search);
    form.querySelector("input[name=token]").value = decodeURIComponent(match[1]);
    form.submit();
  }

  function Live(main) {
    this.main = main;
    this.updated = document.getElementById("updated");
    this.banner = document.getElementById("connection");
    this.refreshMs = Number(document.body.dataset.refresh || "30") * 1000;
    this.busy = false;
    this.pending = false;
  }

  Live.prototype.start = function () {
    var self = this;
    this.tick();
    setInterval(function () { self.tick(); }, 1000);
    setInterval(function () { self.reload(); }, this.refreshMs);
    if (this.main.dataset.stream && window.EventSource) {
      var source = new EventSource(this.main.dataset.stream);
      source.addEventListener("health", function () { self.reload(); });
      source.onopen = function () { self.connected(true); };
      source.onerror = function () { self.connected(false); };
    }
  };

  Live.prototype.dataAt = function () {
    var meta = this.main.querySelector(".live-meta");
    return meta && meta.dataset.at ? Date.parse(meta.dataset.at) : NaN;
  };

  Live.prototype.tick = function () {
    if (!this.updated) return;
    var at = this.dataAt();
    if (isNaN(at)) return;
    var seconds = Math.max(0, Math.round((Date.now() - at) / 1000));
    var text = seconds < 120 ? seconds + " s" : Math.round(seconds / 60) + " min";
    this.updated.textContent = "updated " + text + " ago";
  };

  Live.prototype.connected = function (ok) {
    if (this.banner) this.banner.hidden = ok;
  };

  Live.prototype.reload = function () {
    var self = this;
    if (this.busy) { this.pending = true; return; }
    this.busy = true;
    fetch(window.location.href, { headers: PARTIAL, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); return null; }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        if (html === null) return;
        self.connected(true);
        self.swap(html);
      })
      .catch(function () { self.connected(false); })
      .then(function () {
        self.busy = false;
        if (self.pending) { self.pending = false; self.reload(); }
      });
  };

  Live.prototype.swap = function (html) {
    // Keep what the reader was doing: the focused link or control, the open tables, the scroll, and a
    // filter chosen but not yet applied.
    var focusKey = keyOf(document.activeElement, this.main);
    var open = Array.prototype.map.call(this.main.querySelectorAll("details[open]"), function (d) {
      return keyOf(d, this.main);
    }, this);
    var chosen = changedChoices(this.main);
    this.main.innerHTML = html;
    chosen.forEach(function (choice) {
      var select = find(this.main, { selector: "#" + choice.id, nth: 0 });
      if (select) select.value = choice.value;
    }, this);
    open.forEach(function (key) {
      var details = find(this.main, key);
      if (details) details.open = true;
    }, this);
    var focused = focusKey && find(this.main, focusKey);
    if (focused) focused.focus({ preventScroll: true });
    this.tick();
    document.dispatchEvent(new CustomEvent("healthdeck:swapped"));
  };

  // The selects whose choice the reader changed since the page came (not yet sent with their form).
  function changedChoices(root) {
    return Array.prototype.filter.call(root.querySelectorAll("select[id]"), function (select) {
      var first = Array.prototype.find.call(select.options, function (o) { return o.defaultSelected; });
      return select.value !== (first || select.options[0] || { value: select.value }).value;
    }).map(function (select) { return { id: select.id, value: select.value }; });
  }

  // Where an element is, to find its like in the new content: a selector, and which of the elements
  // matching it it is (two links of a page may share an address: the worst KPI's line and its card).
  function keyOf(element, root) {
    var selector = selectorOf(element, root);
    if (!selector) return null;
    var nth = Array.prototype.indexOf.call(matching(root, selector), element);
    return nth < 0 ? null : { selector: selector, nth: nth };
  }

  function selectorOf(element, root) {
    if (!element || !root.contains(element) || element === root) return null;
    if (element.id) return "#" + element.id;
    var href = element.getAttribute("href");
    if (href) return 'a[href="' + href.replace(/"/g, '\\"') + '"]';
    var parent = element.closest("[id]");
    if (parent && root.contains(parent) && parent !== root) {
      return "#" + parent.id + " " + element.tagName.toLowerCase();
    }
    return null;
  }

  function find(root, key) {
    return key ? matching(root, key.selector)[key.nth] || null : null;
  }

  function matching(root, selector) {
    try { return root.querySelectorAll(selector); } catch (e) { return []; }
  }

  document.addEventListener("DOMContentLoaded", function () {
    signInFromFragment();
    var main = document.getElementById("live");
    if (main && main.dataset.stream) new Live(main).start();
  });
})();
