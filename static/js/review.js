// The review page's keys (templates/qc/review.html). a: accept and save; r: reject; 1-9: a canned
// reason (and reject); n: the note; Enter: save; Ctrl/Cmd+Enter saves from the note; Escape leaves
// the note. Without this file the page is a plain form.
(function () {
  "use strict";

  function form() { return document.getElementById("review-form"); }

  function pick(name, value) {
    const input = form().querySelector('input[name="' + name + '"][value="' + value + '"]');
    if (input) { input.checked = true; }
    return input;
  }

  function save() {
    const f = form();
    if (f.requestSubmit) { f.requestSubmit(); } else { f.submit(); }
  }

  // After a swap htmx gives the focus back to the element with the same id (the note): after a
  // save the keys must reach the page again, so the focus leaves it; after an error it stays.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id !== "review") return;
    if (!document.getElementById("review-errors") && document.activeElement) { document.activeElement.blur(); }
  });

  document.addEventListener("keydown", function (event) {
    if (!form() || event.altKey || event.defaultPrevented) return;
    const typing = event.target.closest && event.target.closest("textarea, input[type=text], select");
    if (typing) {
      // Only from the review form's own fields: the gallery's note (qc/_gallery_mark.html) is another form.
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.closest("#review-form")) {
        event.preventDefault();
        save();
      }
      if (event.key === "Escape") { event.target.blur(); }
      return;
    }
    if (event.ctrlKey || event.metaKey) return;
    const key = event.key;
    if (key === "a") {
      event.preventDefault();
      pick("decision", "accept");
      save();
    } else if (key === "r") {
      event.preventDefault();
      pick("decision", "reject");
    } else if (/^[1-9]$/.test(key)) {
      if (pick("preset", key)) { event.preventDefault(); pick("decision", "reject"); }
    } else if (key === "n") {
      event.preventDefault();
      form().querySelector("textarea").focus();
    } else if (key === "Enter" && !(event.target.closest && event.target.closest("button, a"))) {
      event.preventDefault();
      save();
    }
  });
})();
