/* Integrity signals of the labeling pages (issue 14; annotation/signals.py defines them): while an
   item is open, how often its prompt or response text is copied and how many characters, how often
   something is pasted into the rationale and how many characters, how long the page is hidden or
   without the focus, and when the annotator first acts on the item. Counts and seconds only: never
   the text copied or pasted, never keystrokes. They go with the submit, as the hidden "signals"
   field of #judge-form (the annotator's "My quality" page says what is recorded).
   Separate from annotate.js on purpose: it only listens. No inline script (the CSP forbids it). */
(function () {
  "use strict";

  var PARTS = [[".ws-context", "prompt"], [".ws-responses", "response"]];
  // Keys that read or move around rather than act on the item: not a first interaction.
  var READING_KEYS = /^(Tab|Shift|Control|Alt|Meta|CapsLock|Escape|ArrowUp|ArrowDown|ArrowLeft|ArrowRight|PageUp|PageDown|Home|End|j|k|J|K|g|G|\?)$/;

  var item = null; // what is being measured: the open item's judge form and its figures
  var focused = document.hasFocus();

  function clock() { return performance.now(); }

  function mode() {
    if (document.visibilityState === "hidden") return "hidden";
    return focused ? "present" : "unfocused";
  }

  function measured(ws) {
    // Items and dynamic turns (they have a lease heartbeat or are a chat); not qualification
    // questions, which share the page but not the judgement.
    return !!ws && (!!ws.dataset.heartbeatUrl || ws.classList.contains("ws-chat"));
  }

  function start(form) {
    var now = clock();
    return {
      form: form,
      key: form.getAttribute("action"),
      shownAt: now,
      lastAt: now,
      mode: mode(),
      hiddenMs: 0,
      unfocusedMs: 0,
      leaves: 0,
      firstMs: null,
      copy: { prompt: [0, 0], response: [0, 0] },
      paste: [0, 0],
    };
  }

  // The time since the last change goes to the state the page was in; then the new state.
  function account() {
    if (!item) return;
    var now = clock();
    var spent = now - item.lastAt;
    item.lastAt = now;
    if (item.mode === "hidden") item.hiddenMs += spent;
    else if (item.mode === "unfocused") item.unfocusedMs += spent;
    var next = mode();
    if (item.mode === "present" && next !== "present") item.leaves += 1;
    item.mode = next;
  }

  // Follows the page: a new judge form (the next item, the next turn) starts a new measure; the
  // same one again (a form sent back with an error) keeps counting.
  function sync() {
    var ws = document.getElementById("workspace");
    var form = measured(ws) ? ws.querySelector("#judge-form") : null;
    if (!form) { item = null; return; }
    if (item && item.key === form.getAttribute("action")) { item.form = form; return; }
    item = start(form);
  }

  function interacted() {
    if (item && item.firstMs === null) item.firstMs = clock() - item.shownAt;
  }

  function inside(selector, node) {
    var el = node && (node.nodeType === 1 ? node : node.parentElement);
    return !!(el && el.closest && el.closest(selector));
  }

  // ``range`` cut down to what lies inside ``el``.
  function within(range, el) {
    var part = range.cloneRange();
    var whole = document.createRange();
    whole.selectNodeContents(el);
    if (part.compareBoundaryPoints(Range.START_TO_START, whole) < 0) part.setStart(whole.startContainer, whole.startOffset);
    if (part.compareBoundaryPoints(Range.END_TO_END, whole) > 0) part.setEnd(whole.endContainer, whole.endOffset);
    return part;
  }

  // What a copy took from each part, in the characters the browser copies (``selection.toString()``:
  // rendered text, without hidden copies such as the diff view). A selection that touches both the
  // prompt and the responses is measured part by part — selected alone for a moment, then put back
  // as it was, inside this handler, before the browser copies it.
  function onCopy() {
    if (!item) return;
    var ws = document.getElementById("workspace");
    var selection = window.getSelection();
    if (!ws || !selection || !selection.rangeCount || selection.isCollapsed) return;
    var range = selection.getRangeAt(0);
    var parts = PARTS.map(function (pair) { return [ws.querySelector(pair[0]), pair[1]]; }).filter(function (pair) {
      return pair[0] && range.intersectsNode(pair[0]);
    });
    var counts = [];
    if (parts.length === 1) {
      counts.push([parts[0][1], selection.toString().length]);
    } else if (parts.length > 1) {
      var anchor = [selection.anchorNode, selection.anchorOffset, selection.focusNode, selection.focusOffset];
      try {
        parts.forEach(function (pair) {
          selection.removeAllRanges();
          selection.addRange(within(range, pair[0]));
          counts.push([pair[1], selection.toString().length]);
        });
      } finally {
        selection.setBaseAndExtent(anchor[0], anchor[1], anchor[2], anchor[3]);
      }
    }
    counts.forEach(function (pair) {
      if (!pair[1]) return;
      item.copy[pair[0]][0] += 1;
      item.copy[pair[0]][1] += pair[1];
    });
  }

  function onPaste(event, data) {
    if (!item || !event.target || event.target.id !== "rationale") return;
    item.paste[0] += 1;
    item.paste[1] += data ? (data.getData("text/plain") || "").length : 0;
  }

  function round(ms) { return Math.round(ms) / 1000; }

  function signals() {
    account();
    return {
      shown_seconds: round(clock() - item.shownAt),
      hidden_seconds: round(item.hiddenMs),
      unfocused_seconds: round(item.unfocusedMs),
      leaves: item.leaves,
      copy_prompt: item.copy.prompt[0],
      copy_prompt_chars: item.copy.prompt[1],
      copy_response: item.copy.response[0],
      copy_response_chars: item.copy.response[1],
      paste_rationale: item.paste[0],
      paste_rationale_chars: item.paste[1],
      first_interaction_seconds: item.firstMs === null ? round(clock() - item.shownAt) : round(item.firstMs),
    };
  }

  // Before htmx (or the browser) reads the form: a capturing listener runs first.
  function onSubmit(event) {
    if (!item || event.target !== item.form) return;
    interacted(); // submitting is acting on the item
    var field = item.form.querySelector("input[name=signals]");
    if (!field) {
      field = document.createElement("input");
      field.type = "hidden";
      field.name = "signals";
      item.form.appendChild(field);
    }
    field.value = JSON.stringify(signals());
  }

  document.addEventListener("DOMContentLoaded", function () {
    sync();
    document.addEventListener("visibilitychange", account);
    window.addEventListener("blur", function () { account(); focused = false; account(); });
    window.addEventListener("focus", function () { account(); focused = true; account(); });
    document.addEventListener("copy", onCopy, true);
    document.addEventListener("paste", function (event) { onPaste(event, event.clipboardData); }, true);
    document.addEventListener("drop", function (event) { onPaste(event, event.dataTransfer); }, true);
    document.addEventListener("submit", onSubmit, true);
    document.addEventListener("pointerdown", function (event) {
      if (inside("#workspace", event.target)) interacted();
    }, true);
    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || READING_KEYS.test(event.key)) return;
      if (inside("#workspace", event.target) || event.target === document.body) interacted();
    }, true);
    document.addEventListener("input", function (event) {
      if (inside("#judge-form", event.target) || (event.target && event.target.form === (item && item.form))) interacted();
    }, true);
    document.body.addEventListener("htmx:afterSettle", sync);
  });
})();
