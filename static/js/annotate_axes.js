/* The multi-axis answer (task kinds helpful_safe and attribute_pairwise): one highlighted question
   at a time, answered from the keyboard. annotate.js calls QuorumAxes.onKey before its own keys
   (after its checks: help or guidelines open, typing in a text box, the skip panel) and
   QuorumAxes.init when a new item arrives. Without JavaScript the rows are plain radios. */
(function () {
  "use strict";

  var CHOICE_KEYS = { a: "A", b: "B", t: "tie" };

  function rows(ws) { return Array.prototype.slice.call(ws.querySelectorAll("#axes .axis-row")); }
  function current(ws) { return ws.querySelector("#axes .axis-row.is-current"); }

  function setCurrent(ws, row) {
    rows(ws).forEach(function (other) { other.classList.toggle("is-current", other === row); });
    if (row) row.scrollIntoView({ block: "nearest" });
  }

  function answered(row) { return !!row.querySelector("input[type=radio]:checked"); }

  function move(ws, step) {
    var all = rows(ws);
    var index = all.indexOf(current(ws));
    var next = all[Math.min(Math.max(index + step, 0), all.length - 1)];
    if (next) setCurrent(ws, next);
  }

  // After an answer: the next unanswered question, else the next one, else stay.
  function advance(ws, row) {
    var all = rows(ws);
    var after = all.slice(all.indexOf(row) + 1);
    var open = after.filter(function (other) { return !answered(other); })[0];
    setCurrent(ws, open || after[0] || row);
  }

  function pick(row, value) {
    var input = row.querySelector("input[type=radio][value='" + value + "']");
    if (!input) return false;
    input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  function safetyRow(ws, row) {
    if (row && row.dataset.row === "safety") return row;
    var safety = rows(ws).filter(function (other) { return other.dataset.row === "safety"; });
    return safety.filter(function (other) { return !answered(other); })[0] || null;
  }

  function onKey(ws, event, lower) {
    if (!ws.querySelector("#axes")) return false;
    var row = current(ws);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      move(ws, event.key === "ArrowDown" ? 1 : -1);
      return true;
    }
    if (CHOICE_KEYS[lower]) {
      event.preventDefault();
      if (row && row.dataset.row === "axis" && pick(row, CHOICE_KEYS[lower])) advance(ws, row);
      return true;
    }
    if (lower === "y" || lower === "n") {
      event.preventDefault();
      var target = safetyRow(ws, row);
      if (!target) return true;
      setCurrent(ws, target);
      pick(target, lower === "y" ? "safe" : "unsafe");
      var harm = target.querySelector("select");
      if (lower === "y" && harm) harm.value = "";
      // An unsafe response may take a category next (digits): stay on it when there are any.
      if (lower === "y" || !harm) advance(ws, target);
      return true;
    }
    if (/^[0-9]$/.test(event.key) && row && row.dataset.row === "safety") {
      var select = row.querySelector("select");
      if (!select) return false;
      var option = select.options[Number(event.key)]; // 0 is "No category"
      if (!option) return true;
      event.preventDefault();
      select.value = option.value;
      if (option.value) pick(row, "unsafe");
      advance(ws, row);
      return true;
    }
    return false;
  }

  function init(ws) {
    var axes = ws.querySelector("#axes");
    if (!axes) return;
    // A row answered by pointer becomes the current one; a returned form starts at its first error.
    axes.addEventListener("change", function (event) {
      var row = event.target.closest(".axis-row");
      if (row && event.isTrusted) setCurrent(ws, row);
    });
    var error = axes.querySelector(".axis-row.has-error");
    if (error) setCurrent(ws, error);
  }

  window.QuorumAxes = { onKey: onKey, init: init };
})();
