/* The booth, a little livelier: no build step, no inline code (CSP script-src 'self').
 *
 * Everything here is optional: without JavaScript the booth is a plain form whose "Bijwerken"
 * button saves the choices and shows the meter from the server.
 *  - /stemmen#code=…: the code from the letter's QR code is copied into the field and removed
 *    from the address bar (a fragment never reaches the server, so never its logs).
 *  - The meter (a live region) follows every change; the filters hide projects at once.
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

    form.addEventListener("change", function (event) {
      if (event.target.id === "thema" || event.target.id === "wijk") applyFilters();
      else update();
    });
    form.addEventListener("input", function (event) {
      if (event.target.type === "number") update();
    });
    form.classList.add("bb-booth--live");
  }

  function start() {
    prefillCode();
    var form = document.getElementById("stembiljet");
    if (form) booth(form);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
