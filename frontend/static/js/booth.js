/* The booth, a little livelier: no build step, no inline code (CSP script-src 'self').
 *
 * Everything here is optional: without JavaScript the booth is a plain form whose "Bijwerken"
 * button saves the choices and shows the meter from the server.
 *  - /stemmen#code=…: the code from the letter's QR code is copied into the field and removed
 *    from the address bar (a fragment never reaches the server, so never its logs).
 *  - The meter (a live region) follows every change; the filters hide projects at once.
 *  - The choices are saved on the server as they are made (POST of the form's own fields to
 *    /stemmen/{id}/concept, with the page's CSRF token; 204): 600 ms after the last change, and
 *    when the page is hidden or left (sendBeacon). A discreet live region says whether it worked.
 *    Saves go one at a time, in order, and a submit waits (briefly) for the one on its way, so an
 *    older save can never land after the choices the form itself sends.
 */
(function () {
  "use strict";

  function prefillCode() {
    var field = document.getElementById("code");
    var match = /^#code=([A-Za-z0-9-]{1,64})$/.exec(window.location.hash);
    if (!match) return;
    if (field) field.value = match[1];
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
    }
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : all;
    });
  }

  function booth(form) {
    var kind = form.dataset.type;
    var budget = parseInt(form.dataset.budget, 10) || 0;
    var points = parseInt(form.dataset.points, 10) || 0;
    var maxK = parseInt(form.dataset.max, 10) || 0;
    var lang = form.dataset.lang === "en" ? "en-GB" : "nl-NL";
    var money = new Intl.NumberFormat(lang, { style: "currency", currency: "EUR" });
    var text = document.getElementById("meter-tekst");
    var bar = document.getElementById("meter-balk");
    var items = Array.prototype.slice.call(form.querySelectorAll(".bb-project"));

    function euro(cents) { return money.format(cents / 100); }

    function update() {
      var chosen = 0, total = 0, used = 0, title = "";
      items.forEach(function (item) {
        var cost = parseInt(item.dataset.cost, 10) || 0;
        var box = item.querySelector("input[type=checkbox], input[type=radio]");
        var number = item.querySelector("input[type=number]");
        var rank = item.querySelector("select");
        var on = false;
        if (box) on = box.checked;
        if (number) {
          var value = parseInt(number.value, 10);
          if (value > 0) { used += value; on = true; }
        }
        if (rank) on = rank.value !== "";
        item.classList.toggle("bb-project--chosen", on);
        if (on) { chosen += 1; total += cost; title = item.dataset.title; }
      });
      var over = false, sentence;
      if (kind === "knapsack") {
        over = total > budget;
        sentence = fill(over ? form.dataset.meterOver : form.dataset.meterOk, {
          total: euro(total), budget: euro(budget),
          left: euro(Math.max(budget - total, 0)), over: euro(Math.max(total - budget, 0))
        });
        if (bar) bar.value = Math.min(total, budget);
      } else if (kind === "cumulative") {
        over = used > points;
        sentence = fill(over ? form.dataset.meterOver : form.dataset.meterOk, {
          used: used, max: points, left: Math.max(points - used, 0), over: Math.max(used - points, 0)
        });
        if (bar) bar.value = Math.min(used, points);
      } else if (kind === "choose-1") {
        sentence = chosen ? fill(form.dataset.meterOk, { title: title }) : form.dataset.meterNone;
      } else {
        over = maxK > 0 && chosen > maxK;
        sentence = fill(form.dataset.meterOk, { chosen: chosen, max: maxK });
        if (bar) bar.value = Math.min(chosen, maxK);
      }
      if (text && text.textContent !== sentence) text.textContent = sentence;
      form.classList.toggle("bb-booth--over", over);
    }

    function applyFilters() {
      var theme = form.querySelector("#thema");
      var district = form.querySelector("#wijk");
      var t = theme ? theme.value : "";
      var d = district ? district.value : "";
      items.forEach(function (item) {
        var show = (!t || item.dataset.theme === t) &&
          (!d || (d === "stad" ? item.dataset.district === "" : item.dataset.district === d));
        item.hidden = !show;
      });
    }

    var saver = autosave(form);
    form.addEventListener("change", function (event) {
      if (event.target.id === "thema" || event.target.id === "wijk") applyFilters();
      else { update(); saver.changed(); }
    });
    form.addEventListener("input", function (event) {
      if (event.target.type === "number") { update(); saver.changed(); }
    });
    form.classList.add("bb-booth--live");
  }

  var SAVE_DELAY = 600;      // ms after the last change
  var SUBMIT_WAIT = 3000;    // ms a submit waits at most for a save on its way

  function autosave(form) {
    var url = form.dataset.draftUrl;
    var status = document.getElementById("bewaar-status");
    var none = { changed: function () {} };
    if (!url || !status || !window.fetch || !window.FormData || !window.URLSearchParams) return none;
    var timer = null;      // a save waiting for the voter to stop changing things
    var inflight = null;   // the promise of the save on its way
    var again = false;     // changed while a save was on its way: save once more after it
    var dirty = false;     // choices on the page that the server may not have yet

    function body() {
      var data = new URLSearchParams();
      new FormData(form).forEach(function (value, name) {
        if (typeof value === "string") data.append(name, value);
      });
      return data;
    }

    function show(text, failed) {
      if (status.textContent !== text) status.textContent = text;
      status.classList.toggle("bb-booth__saved--failed", !!failed);
    }

    function refused(response) {
      // A refusal (ended session, closed round, a rank given twice): the server's own words.
      return response.json().then(function (problem) {
        return problem && typeof problem.detail === "string" ? problem.detail : "";
      }, function () { return ""; }).then(function (detail) {
        show(detail ? fill(form.dataset.refused, { reason: detail }) : form.dataset.unsaved, true);
      });
    }

    function save() {
      timer = null;
      if (inflight) { again = true; return; }
      dirty = false;
      inflight = fetch(url, {
        method: "POST",
        body: body(),
        credentials: "same-origin",
        headers: { "Accept": "application/json" }
      }).then(function (response) {
        if (response.status === 204) { show(form.dataset.saved, false); return null; }
        if (response.status >= 400 && response.status < 500) return refused(response);
        dirty = true;  // the server could not store it: try again with the next change
        show(form.dataset.unsaved, true);
        return null;
      }, function () {
        dirty = true;  // no connection: kept for the next change, "online" or leaving the page
        show(form.dataset.unsaved, true);
      }).then(function () {
        inflight = null;
        if (again) { again = false; save(); }
      });
    }

    function changed() {
      dirty = true;
      if (timer) window.clearTimeout(timer);
      timer = window.setTimeout(save, SAVE_DELAY);
    }

    function leaving() {
      // The page may be gone before a fetch answers: hand the newest choices to the browser.
      if (!dirty && !inflight && !timer) return;
      if (timer) { window.clearTimeout(timer); timer = null; }
      var sent = false;
      if (navigator.sendBeacon) {
        try { sent = navigator.sendBeacon(url, body()); } catch (e) { sent = false; }
      }
      if (!sent) {
        try {
          fetch(url, { method: "POST", body: body(), credentials: "same-origin", keepalive: true });
          sent = true;
        } catch (e) { sent = false; }
      }
      if (sent) dirty = false;
    }

    var waited = false;
    form.addEventListener("submit", function (event) {
      // The form carries the choices itself; a save still on its way goes first.
      if (timer) { window.clearTimeout(timer); timer = null; }
      dirty = false;
      again = false;
      if (!inflight || waited || !form.requestSubmit) return;
      event.preventDefault();
      var submitter = event.submitter;
      var go = function () {
        if (waited) return;
        waited = true;
        if (submitter) form.requestSubmit(submitter); else form.requestSubmit();
      };
      inflight.then(go, go);
      window.setTimeout(go, SUBMIT_WAIT);
    });
    window.addEventListener("pagehide", leaving);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") leaving();
    });
    window.addEventListener("online", function () { if (dirty && !timer) save(); });
    return { changed: changed };
  }

  function start() {
    prefillCode();
    var form = document.getElementById("stembiljet");
    if (form) booth(form);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
