// Model versions over time (templates/qc/model_history.html): each model's Bradley–Terry rating
// per week as a line and its weekly win rate as bars, drawn with the vendored Chart.js from the
// JSON beside the canvas. The project page loads these figures with htmx, so new content is drawn
// when it arrives (htmx:load); the table beside each chart keeps the figures without JavaScript.
(function () {
  "use strict";

  // Okabe–Ito: told apart with the common colour-vision deficiencies.
  const COLOURS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];

  function draw(figure) {
    if (figure.dataset.drawn || typeof window.Chart === "undefined") return;
    const source = document.getElementById("model-history-data-" + figure.dataset.modelHistory);
    const canvas = figure.querySelector("canvas");
    if (!source || !canvas) return;
    figure.dataset.drawn = "1";
    const data = JSON.parse(source.textContent);
    const datasets = [];
    data.models.forEach(function (model, index) {
      const colour = COLOURS[index % COLOURS.length];
      datasets.push({ type: "line", label: model.name + " rating", data: model.rating, yAxisID: "rating", borderColor: colour, backgroundColor: colour, pointRadius: 3, borderWidth: 2, spanGaps: true });
      datasets.push({ type: "bar", label: model.name + " win rate", data: model.win_rate, yAxisID: "winRate", backgroundColor: colour + "55", borderColor: colour, borderWidth: 1 });
    });
    new window.Chart(canvas, {
      data: { labels: data.weeks, datasets: datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          rating: { position: "left", title: { display: true, text: "Rating (Elo scale)" } },
          winRate: { position: "right", min: 0, max: 1, grid: { drawOnChartArea: false }, title: { display: true, text: "Win rate that week" }, ticks: { callback: function (v) { return Math.round(v * 100) + "%"; } } }
        },
        plugins: {
          tooltip: {
            callbacks: {
              afterLabel: function (ctx) {
                const model = data.models[Math.floor(ctx.datasetIndex / 2)];
                if (ctx.datasetIndex % 2 === 0) {
                  const lo = model.low[ctx.dataIndex], hi = model.high[ctx.dataIndex];
                  return lo === null ? "" : "95% interval " + Math.round(lo) + "–" + Math.round(hi);
                }
                return "n = " + model.n[ctx.dataIndex] + " turns";
              }
            }
          }
        }
      }
    });
  }

  function drawAll(root) {
    (root || document).querySelectorAll("[data-model-history]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:load", function (event) { drawAll(event.target); if (event.target.matches && event.target.matches("[data-model-history]")) draw(event.target); });
})();
