// Sortable tables without a round trip: <table data-sortable>, headings with data-sort-type
// ("num" or "text"), cells with data-value (the raw number; empty = no figure, always last).
// A heading's link still sorts on the server when this file does not run.
(function () {
  "use strict";

  function cellValue(row, index, type) {
    const cell = row.cells[index];
    if (!cell) return null;
    const raw = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent.trim();
    if (raw === "") return null;
    if (type === "num") {
      const number = parseFloat(raw);
      return isNaN(number) ? null : number;
    }
    return raw.toLowerCase();
  }

  function sortBy(table, heading, index) {
    const type = heading.getAttribute("data-sort-type");
    const body = table.tBodies[0];
    const current = heading.getAttribute("aria-sort");
    const descending = current === "ascending";
    const rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      const x = cellValue(a, index, type);
      const y = cellValue(b, index, type);
      if (x === null && y === null) return 0;
      if (x === null) return 1; // no figure: last, whichever the direction
      if (y === null) return -1;
      const order = x < y ? -1 : x > y ? 1 : 0;
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    table.querySelectorAll("th[aria-sort], th a[aria-sort]").forEach(function (el) { el.removeAttribute("aria-sort"); });
    heading.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  document.querySelectorAll("table[data-sortable]").forEach(function (table) {
    const headRow = table.tHead.rows[table.tHead.rows.length - 1];
    Array.prototype.forEach.call(headRow.cells, function (heading) {
      if (!heading.hasAttribute("data-sort-type")) return;
      // Column index in the body rows: the last heading row has one cell per column.
      const index = heading.cellIndex;
      const link = heading.querySelector("a");
      const control = document.createElement("button");
      control.type = "button";
      control.className = "sort-button";
      control.textContent = (link || heading).textContent;
      if (link && link.getAttribute("aria-sort")) heading.setAttribute("aria-sort", link.getAttribute("aria-sort"));
      if (link) link.replaceWith(control); else { heading.textContent = ""; heading.appendChild(control); }
      control.addEventListener("click", function () { sortBy(table, heading, index); });
    });
  });
})();
