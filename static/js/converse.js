/* The dynamic-labeling page on top of annotate.js (which drives the judgement controls): the
   message box sends on Enter (Shift+Enter = new line), focus goes where the next action is
   (message box, or "ask again" after an error), and a refused action (409: e.g. a turn already
   running in another tab) still shows its explanation. No inline script (the CSP forbids it). */
(function () {
  "use strict";

  function focusNext() {
    var ws = document.getElementById("workspace");
    if (!ws || !ws.classList.contains("ws-chat")) return;
    var target = ws.querySelector("#message") || ws.querySelector("#retry-btn");
    if (target) target.focus();
    var history = ws.querySelector("#history");
    if (history) history.scrollTop = history.scrollHeight;
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!document.querySelector(".ws-chat")) return;
    focusNext();

    document.addEventListener("keydown", function (event) {
      var target = event.target;
      if (target && target.id === "message" && event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        if (!target.value.trim()) return;
        var form = document.getElementById("message-form");
        if (form) { if (form.requestSubmit) form.requestSubmit(); else form.submit(); }
      }
    });

    document.body.addEventListener("htmx:beforeSwap", function (event) {
      if (event.detail.xhr.status === 409) {
        event.detail.shouldSwap = true;
        event.detail.isError = false;
      }
    });

    document.body.addEventListener("htmx:afterSwap", function (event) {
      var target = event.detail.target;
      if (target && target.id === "workspace") focusNext();
      if (target && target.id === "live") {
        // Keep the newest words in view while an answer streams in.
        var live = document.getElementById("live");
        if (live) live.querySelectorAll(".resp-body").forEach(function (el) {
          if (el.scrollHeight - el.scrollTop - el.clientHeight < 80) el.scrollTop = el.scrollHeight;
        });
      }
    });
  });
})();
