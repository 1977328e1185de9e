/* The annotator's page: keyboard shortcuts, active-time tracking, lease heartbeat, ranking by
   drag and keyboard. Everything here is an enhancement: without it the page is plain forms.
   No inline script or handler attributes anywhere (the CSP forbids them). */
(function () {
  "use strict";

  var ws = null; // the current #workspace element (replaced by htmx after each submit)
  var activeMs = 0;
  var lastTick = 0;
  var interacted = false;
  var heartbeatTimer = null;
  var testTimer = null; // qualification test: the countdown to the attempt's deadline

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  function isTyping(el) {
    if (!el || !el.tagName) return false;
    var tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable) return true;
    return tag === "INPUT" && !/^(radio|checkbox|button|submit|reset|hidden)$/i.test(el.type);
  }

  function csrfToken() {
    var input = $("input[name=csrfmiddlewaretoken]", ws || document);
    return input ? input.value : "";
  }

  function setStatus(text, kind) {
    var el = $("#lease-state", ws);
    if (!el) return;
    el.textContent = text;
    el.className = "ws-lease" + (kind ? " ws-lease-" + kind : "");
    el.hidden = !text;
  }

  // --- Active seconds: counted only while the page is visible and focused ----------------------
  function tick() {
    var now = performance.now();
    var delta = now - lastTick;
    lastTick = now;
    if (document.visibilityState === "visible" && document.hasFocus() && delta < 5000) activeMs += delta;
    var field = ws && $("input[name=active_seconds]", ws);
    if (field) field.value = (activeMs / 1000).toFixed(1);
  }

  // --- Lease heartbeat ------------------------------------------------------------------------
  function heartbeat(withInteraction) {
    var page = ws;
    if (!page || !page.dataset.heartbeatUrl) return;
    var body = new URLSearchParams();
    if (withInteraction) body.set("interacted", "1");
    fetch(page.dataset.heartbeatUrl, {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken() },
      body: body,
      credentials: "same-origin",
    }).then(function (response) { return response.json(); }).then(function (data) {
      if (page !== ws) return; // answered after the next item arrived: about an old lease
      if (data.live) {
        setStatus("", "");
      } else {
        setStatus("Your lease on this item ended. You can still submit: the answer is kept (counted if the item still needs it).", "warning");
      }
    }).catch(function () {
      if (page === ws) setStatus("Connection lost — your answer is still here.", "warning");
    });
  }

  function markInteracted() {
    if (interacted) return;
    interacted = true;
    heartbeat(true);
  }

  // --- Actions ----------------------------------------------------------------------------------
  function check(selector) {
    var input = $(selector, ws);
    if (!input) return;
    input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    markInteracted();
  }

  function toggle(selector) {
    var input = $(selector, ws);
    if (!input) return;
    input.checked = !input.checked;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    markInteracted();
  }

  function submitJudgement() {
    var form = $("#judge-form", ws);
    if (!form) return;
    tick();
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }

  function openSkip() {
    var panel = $("#skip-panel", ws);
    if (!panel) return;
    panel.open = true;
    var first = $("input[name=reason]", panel);
    if (first) first.focus();
    markInteracted();
  }

  function toggleHelp() {
    var dialog = $("#help", ws);
    if (!dialog) return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }

  function scrollResponses(dy) {
    // Where the responses scroll inside their cards (wide screens) scroll those; where they do
    // not (a phone: one page, no nested scrolling), scroll the page.
    var inner = $all(".resp-body", ws).filter(function (el) { return el.scrollHeight > el.clientHeight + 1; });
    if (inner.length) inner.forEach(function (el) { el.scrollBy({ top: dy, behavior: "smooth" }); });
    else window.scrollBy({ top: dy, behavior: "smooth" });
  }

  // The guidelines drawer (a <dialog> outside the workspace); the link stays a link without JS.
  function openGuidelines() {
    var drawer = document.getElementById("guidelines");
    if (!drawer || drawer.open) return;
    drawer.showModal();
    drawer.scrollTop = 0;
  }

  // --- Ranking ----------------------------------------------------------------------------------
  function renumberByOrder() {
    $all(".resp", ws).forEach(function (card, index) {
      var select = $(".rank-select", card);
      if (select) select.value = String(index + 1);
    });
  }

  function moveCard(card, direction) {
    var sibling = direction < 0 ? card.previousElementSibling : card.nextElementSibling;
    if (!sibling) return;
    if (direction < 0) card.parentNode.insertBefore(card, sibling); else card.parentNode.insertBefore(sibling, card);
    renumberByOrder();
    card.focus();
  }

  function setupRanking() {
    if (!ws.classList.contains("ws-ranking")) return;
    var dragged = null;
    $all(".resp", ws).forEach(function (card) {
      card.draggable = true;
      card.addEventListener("dragstart", function () { dragged = card; card.classList.add("dragging"); });
      card.addEventListener("dragend", function () { card.classList.remove("dragging"); dragged = null; });
      card.addEventListener("dragover", function (event) { event.preventDefault(); });
      card.addEventListener("drop", function (event) {
        event.preventDefault();
        if (!dragged || dragged === card) return;
        var cards = $all(".resp", ws);
        var before = cards.indexOf(dragged) > cards.indexOf(card);
        card.parentNode.insertBefore(dragged, before ? card : card.nextSibling);
        renumberByOrder();
        markInteracted();
      });
    });
  }

  // --- Keyboard ---------------------------------------------------------------------------------
  var PAIRWISE_KEYS = {
    a: "input[name=choice][value=A]",
    b: "input[name=choice][value=B]",
    t: "input[name=choice][value=tie]",
    x: "input[name=choice][value=both_bad]",
    1: "input[name=strength][value='1']",
    2: "input[name=strength][value='2']",
    3: "input[name=strength][value='3']",
  };
  var FLAG_KEYS = { h: "input[name=flag_harmful]", p: "input[name=flag_pii]", c: "input[name=flag_cannot_judge]" };

  function onKeydown(event) {
    if (!ws || !$("#judge-form", ws)) return;
    var target = event.target;
    var key = event.key;
    var help = $("#help", ws);
    if (help && help.open) {
      if (key === "?") { event.preventDefault(); help.close(); }
      return; // the dialog handles Escape itself
    }
    var guidelines = document.getElementById("guidelines");
    if (guidelines && guidelines.open) {
      if (key.toLowerCase() === "g" && !isTyping(target)) { event.preventDefault(); guidelines.close(); }
      return; // Escape closes it too (the dialog's own)
    }
    if ((event.ctrlKey || event.metaKey) && key === "Enter") {
      event.preventDefault();
      var skipPanel = $("#skip-panel", ws);
      if (skipPanel && skipPanel.contains(target)) $("#skip-form", ws).requestSubmit(); else submitJudgement();
      return;
    }
    if (isTyping(target)) {
      if (key === "Escape") { target.blur(); event.preventDefault(); }
      return;
    }
    if (event.ctrlKey || event.metaKey) return;

    var panel = $("#skip-panel", ws);
    if (panel && panel.open) {
      if (/^[1-4]$/.test(key)) {
        var reasons = $all("input[name=reason]", panel);
        var choice = reasons[Number(key) - 1];
        if (choice) { choice.checked = true; choice.focus(); }
        event.preventDefault();
        return;
      }
      if (key === "Escape") { panel.open = false; event.preventDefault(); return; }
      if (key === "Enter" && target.tagName !== "BUTTON" && target.tagName !== "SUMMARY") {
        event.preventDefault();
        $("#skip-form", ws).requestSubmit();
        return;
      }
    }

    var ranking = ws.classList.contains("ws-ranking");
    var card = target.closest ? target.closest(".resp") : null;
    if (ranking && card) {
      if (event.altKey && (key === "ArrowUp" || key === "ArrowDown")) {
        event.preventDefault();
        moveCard(card, key === "ArrowUp" ? -1 : 1);
        markInteracted();
        return;
      }
      if (/^[1-9]$/.test(key)) {
        var select = $(".rank-select", card);
        if (select && Number(key) <= select.options.length) {
          select.value = key;
          markInteracted();
          event.preventDefault();
          return;
        }
      }
    }
    if (event.altKey) return;

    var lower = key.toLowerCase();
    // Multi-axis task kinds (static/js/annotate_axes.js): their keys first, no pairwise keys.
    var axes = window.QuorumAxes && $("#axes", ws) ? window.QuorumAxes : null;
    if (axes && axes.onKey(ws, event, lower)) { markInteracted(); return; }
    if (!ranking && !axes && PAIRWISE_KEYS[lower]) { event.preventDefault(); check(PAIRWISE_KEYS[lower]); return; }
    if (FLAG_KEYS[lower]) { event.preventDefault(); toggle(FLAG_KEYS[lower]); return; }
    switch (lower) {
      case "d": event.preventDefault(); toggle("#diff-toggle"); return;
      case "s": event.preventDefault(); openSkip(); return;
      case "r": event.preventDefault(); var rationale = $("#rationale", ws); if (rationale) rationale.focus(); markInteracted(); return;
      case "j": event.preventDefault(); scrollResponses(160); return;
      case "k": event.preventDefault(); scrollResponses(-160); return;
      case "?": event.preventDefault(); toggleHelp(); return;
      case "g": event.preventDefault(); openGuidelines(); return;
      case "enter":
        if (target.tagName === "BUTTON" || target.tagName === "A" || target.tagName === "SUMMARY") return;
        event.preventDefault();
        submitJudgement();
        return;
    }
  }

  // --- Qualification test: time left -------------------------------------------------------------
  function startCountdown() {
    if (testTimer) clearInterval(testTimer);
    testTimer = null;
    var deadline = ws.dataset.deadline ? Date.parse(ws.dataset.deadline) : NaN;
    var label = $("#test-timer strong", ws);
    if (isNaN(deadline) || !label) return;
    function show() {
      var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      var minutes = Math.floor(left / 60);
      var seconds = left % 60;
      label.textContent = minutes + ":" + (seconds < 10 ? "0" : "") + seconds;
      // Time is up: the server scores the attempt when the page asks for it again.
      if (left === 0) { clearInterval(testTimer); window.location.reload(); }
    }
    show();
    testTimer = setInterval(show, 1000);
  }

  // --- Wiring -----------------------------------------------------------------------------------
  function init() {
    ws = document.getElementById("workspace");
    if (!ws) return;
    document.body.classList.add("js");
    activeMs = 0;
    lastTick = performance.now();
    interacted = false;
    setupRanking();
    if (window.QuorumAxes) window.QuorumAxes.init(ws);
    ws.addEventListener("pointerdown", markInteracted);
    ws.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("[data-action]") : null;
      if (!button) return;
      if (button.dataset.action === "help") toggleHelp();
      if (button.dataset.action === "guidelines") { event.preventDefault(); openGuidelines(); }
      if (button.dataset.action === "skip") openSkip();
    });
    startCountdown();
    var leaseSeconds = Number(ws.dataset.leaseSeconds || 0);
    if (heartbeatTimer) clearInterval(heartbeatTimer);
    if (leaseSeconds) {
      // Well inside the lease, and only while someone is looking at the page.
      heartbeatTimer = setInterval(function () {
        if (document.visibilityState === "visible") heartbeat(false);
      }, Math.max(15, Math.min(120, leaseSeconds / 4)) * 1000);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    init();
    setInterval(tick, 1000);
    document.addEventListener("keydown", onKeydown);
    document.addEventListener("visibilitychange", tick);
    window.addEventListener("blur", tick);
    window.addEventListener("focus", function () { lastTick = performance.now(); });

    document.body.addEventListener("htmx:beforeSwap", function (event) {
      var status = event.detail.xhr.status;
      if (status === 400) {
        // Field errors come back as the same workspace, with the answer kept: show them.
        event.detail.shouldSwap = true;
        event.detail.isError = false;
      } else if (status >= 400) {
        event.detail.shouldSwap = false;
        setStatus("Not saved (error " + status + "). Your answer is still here — press Enter to try again, or reload.", "error");
      }
    });
    document.body.addEventListener("htmx:sendError", function () {
      setStatus("Not saved: the server could not be reached. Your answer is still here — press Enter to retry.", "error");
    });
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.detail.target && event.detail.target.id === "workspace" || event.target.id === "workspace") {
        init();
        window.scrollTo(0, 0);
        if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
      }
    });
  });
})();
