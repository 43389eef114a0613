// mturk-decisions console: the little the server cannot do. No library, no network beyond this local server.
// 1. countdowns to deadlines, 2. the feedback checked as the worker will see it while it is typed,
// 3. a batch's progress, polled from /api/batches/ID (signed by the local server) until it is final.
"use strict";

(function () {
  var FORBIDDEN = function (code) { return code <= 8 || code === 11 || code === 12 || (code >= 14 && code <= 31); };
  var MAX = 1024;
  var FINAL = ["COMPLETED", "FAILED", "CANCELLED", "CANCELED", "ABORTED"];

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function remaining(ms) {
    if (ms <= 0) { return "passed"; }
    var s = Math.floor(ms / 1000), d = Math.floor(s / 86400);
    var h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return "in " + (d > 0 ? d + " d " : "") + pad(h) + ":" + pad(m) + ":" + pad(s % 60);
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("data-deadline"));
      if (isNaN(at)) { return; }
      if (!el.title) { el.title = el.getAttribute("data-deadline"); }
      var exact = el.getAttribute("data-deadline").replace("T", " ").slice(0, 16) + "Z";
      el.textContent = remaining(at - now) + (el.closest("table") ? "" : " (" + exact + ")");
      el.classList.toggle("late", at - now <= 0);
    });
  }

  function hex(code) { return "U+" + ("0000" + code.toString(16).toUpperCase()).slice(-4); }

  function check(area) {
    var out = document.getElementById(area.getAttribute("data-feedback-check"));
    if (!out) { return; }
    var chars = Array.from(area.value), bad = [];
    chars.forEach(function (c, i) { if (FORBIDDEN(c.codePointAt(0))) { bad.push(i); } });
    out.textContent = "";
    var count = document.createElement("p");
    count.textContent = chars.length.toLocaleString("en") + " / 1,024 characters";
    out.appendChild(count);
    var problem = null;
    if (bad.length) {
      problem = "Rule FORBIDDEN_CHARACTER: " + hex(chars[bad[0]].codePointAt(0)) + " at position " + bad[0] +
        "; MTurk refuses ASCII 0-8, 11, 12 and 14-31 (tab and line breaks are allowed). " + bad.length + " marked below.";
    } else if (chars.length > MAX) {
      problem = "Rule MAX_LENGTH: " + chars.length + " characters; MTurk accepts at most 1,024. The excess is marked below.";
    } else if (area.hasAttribute("data-required") && area.value.length && !area.value.trim()) {
      problem = "Rule REQUIRED: feedback must contain visible text.";
    }
    out.classList.toggle("bad", problem !== null);
    area.setAttribute("aria-invalid", problem !== null ? "true" : "false");
    if (problem === null) { return; }
    var p = document.createElement("p");
    p.className = "rule";
    p.textContent = problem;
    out.appendChild(p);
    var pre = document.createElement("pre");
    pre.className = "preview";
    chars.forEach(function (c, i) {
      if (bad.indexOf(i) >= 0 || (!bad.length && i >= MAX)) {
        var mark = document.createElement("mark");
        mark.textContent = bad.length ? hex(c.codePointAt(0)) : c;
        pre.appendChild(mark);
      } else {
        pre.appendChild(document.createTextNode(c));
      }
    });
    out.appendChild(pre);
  }

  function poll(section) {
    var url = section.getAttribute("data-batch-progress");
    fetch(url + "?limit=1", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (answer) { return answer.json(); })
      .then(function (batch) {
        if (!batch || !batch.status) { return; }
        document.getElementById("batch-status").textContent = batch.status;
        document.getElementById("batch-done").textContent = batch.done;
        var bar = document.getElementById("batch-progress");
        bar.value = batch.done;
        Object.keys(batch.counts || {}).forEach(function (name) {
          var cell = section.querySelector('[data-count="' + name + '"]');
          if (cell) { cell.textContent = batch.counts[name]; }
        });
        if (FINAL.indexOf(batch.status) >= 0) { window.location.reload(); return; }
        setTimeout(function () { poll(section); }, 1000);
      })
      .catch(function () { setTimeout(function () { poll(section); }, 3000); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    document.querySelectorAll("textarea[data-feedback-check]").forEach(function (area) {
      area.addEventListener("input", function () { check(area); });
      if (area.value) { check(area); }
    });
    var section = document.querySelector("[data-batch-progress]");
    if (section) { setTimeout(function () { poll(section); }, 500); }
  });
}());
