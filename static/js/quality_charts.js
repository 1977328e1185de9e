// The Quality page's charts (templates/qc/_quality_charts.html), drawn with the vendored Chart.js
// from the JSON the page carries (json_script "quality-charts"; built by qc/charts.py). Every
// chart has a table beside it, so nothing is lost when this file does not run.
(function () {
  "use strict";

  const source = document.getElementById("quality-charts");
  if (!source || typeof window.Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const Chart = window.Chart;
  // Okabe–Ito: told apart with the common colour-vision deficiencies.
  const BLUE = "#0072B2", ORANGE = "#E69F00", GREEN = "#009E73", VERMILION = "#D55E00", GREY = "#6b7280";
  const BAND_BLUE = "rgba(0, 114, 178, 0.16)", BAND_GREEN = "rgba(0, 158, 115, 0.16)";
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;

  const pct = function (value) { return value === null || value === undefined ? "—" : Math.round(value * 100) + "%"; };

  // A dashed reference line at a value of the value axis (x for horizontal charts, y otherwise).
  const referenceLine = {
    id: "referenceLine",
    afterDatasetsDraw: function (chart, _args, options) {
      if (options.value === null || options.value === undefined) return;
      const horizontal = chart.options.indexAxis === "y";
      const scale = chart.scales[horizontal ? "x" : "y"];
      const area = chart.chartArea;
      const at = scale.getPixelForValue(options.value);
      const ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = options.color || GREY;
      ctx.setLineDash([5, 4]);
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      if (horizontal) { ctx.moveTo(at, area.top); ctx.lineTo(at, area.bottom); }
      else { ctx.moveTo(area.left, at); ctx.lineTo(area.right, at); }
      ctx.stroke();
      ctx.restore();
    }
  };
  Chart.register(referenceLine);

  function canvasOf(name) {
    const figure = document.querySelector('[data-chart="' + name + '"]');
    return figure ? figure.querySelector("canvas") : null;
  }

  const unitAxis = { min: 0, max: 1, ticks: { callback: function (v) { return pct(v); } } };

  // Rate with its band: three datasets (low, high filled down to low, the rate itself).
  function bandDatasets(points, label, colour, band) {
    return [
      { label: label + " 95% low", data: points.map(function (p) { return p.lo; }), borderWidth: 0, pointRadius: 0, fill: false },
      { label: label + " 95% interval", data: points.map(function (p) { return p.hi; }), borderWidth: 0, pointRadius: 0, backgroundColor: band, fill: "-1" },
      { label: label, data: points.map(function (p) { return p.v; }), borderColor: colour, backgroundColor: colour, pointRadius: 3, borderWidth: 2 }
    ];
  }

  const hideBandLegend = { labels: { filter: function (item) { return item.text.indexOf("95% low") === -1; } } };

  function timeLabels(series) {
    const seen = {};
    series.forEach(function (points) { points.forEach(function (p) { seen[p.label] = true; }); });
    return Object.keys(seen).sort();
  }

  // Aligns a series on shared labels (missing points become gaps).
  function align(points, labels) {
    const byLabel = {};
    points.forEach(function (p) { byLabel[p.label] = p; });
    return labels.map(function (l) { return byLabel[l] || { v: null, lo: null, hi: null, n: 0, label: l }; });
  }

  function tooltipWithN(points) {
    return { callbacks: { afterLabel: function (ctx) { const p = points[ctx.datasetIndex] && points[ctx.datasetIndex][ctx.dataIndex]; return p && p.n ? "n = " + p.n : ""; } } };
  }

  // --- Stream over time ---------------------------------------------------------------------------
  (function () {
    const canvas = canvasOf("history-stream");
    if (!canvas) return;
    const gold = data.history.stream.gold_accuracy, alpha = data.history.stream.alpha_nominal;
    const labels = timeLabels([gold, alpha]);
    const g = align(gold, labels), a = align(alpha, labels);
    const datasets = bandDatasets(g, "Gold accuracy", BLUE, BAND_BLUE);
    datasets.push({ label: "Krippendorff's α (choice)", data: a.map(function (p) { return p.v; }), borderColor: ORANGE, backgroundColor: ORANGE, pointRadius: 3, borderWidth: 2 });
    new Chart(canvas, {
      type: "line",
      data: { labels: labels, datasets: datasets },
      options: {
        spanGaps: true,
        scales: { y: { min: Math.min(0, Math.min.apply(null, a.map(function (p) { return p.v === null ? 0 : p.v; }))), max: 1 } },
        plugins: { legend: hideBandLegend, referenceLine: { value: data.min_gold_accuracy } }
      }
    });
  })();

  // --- One annotator over time --------------------------------------------------------------------
  (function () {
    const canvas = canvasOf("history-annotator");
    const people = data.history.annotators;
    if (!canvas || !people.length) return;
    const select = document.querySelector('[data-chart-select="history-annotator"]');
    // The page carries the first annotator's whole series and everyone's latest points; another
    // person's whole series is fetched when chosen (qc:annotator_history), drawn from the latest
    // points until it arrives.
    const first = data.history.annotator_start;
    const whole = {};
    if (first && first.name !== undefined) whole[first.index] = first;
    let chart = null;
    let shown = null;
    function choose(index) {
      shown = index;
      draw(index);
      if (whole[index] || !people[index].url) return;
      fetch(people[index].url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (series) {
          if (!series) return;
          whole[index] = { name: people[index].name, gold_accuracy: series.gold_accuracy, agreement: series.agreement };
          if (shown === index) draw(index);
        })
        .catch(function () { /* the latest points stay drawn */ });
    }
    function draw(index) {
      const person = whole[index] || people[index];
      const labels = timeLabels([person.gold_accuracy, person.agreement]);
      const g = align(person.gold_accuracy, labels), a = align(person.agreement, labels);
      const datasets = bandDatasets(g, "Gold accuracy", BLUE, BAND_BLUE).concat(bandDatasets(a, "Agreement", GREEN, BAND_GREEN));
      if (chart) chart.destroy();
      chart = new Chart(canvas, {
        type: "line",
        data: { labels: labels, datasets: datasets },
        options: {
          spanGaps: true,
          scales: { y: unitAxis },
          plugins: { legend: hideBandLegend, referenceLine: { value: data.min_gold_accuracy }, tooltip: tooltipWithN([g, g, g, a, a, a]) }
        }
      });
    }
    // Start on the first flagged annotator of the gold chart, if any: the one a PM looks for
    // (qc.charts picks it and sends their whole series).
    const start = first ? first.index : 0;
    if (select) {
      select.value = String(start);
      select.addEventListener("change", function () { choose(parseInt(select.value, 10)); });
    }
    choose(start);
  })();

  // --- The model judge over time ---------------------------------------------------------------------
  (function () {
    const canvas = canvasOf("history-judge");
    const judge = data.history.judge;
    if (!canvas || !judge) return;
    const labels = timeLabels([judge.agreement, judge.swap_consistency, judge.gold_accuracy]);
    const a = align(judge.agreement, labels), s = align(judge.swap_consistency, labels), g = align(judge.gold_accuracy, labels);
    const datasets = bandDatasets(a, "Agreement with the people", GREEN, BAND_GREEN)
      .concat(bandDatasets(s, "Swap consistency", ORANGE, "rgba(230, 159, 0, 0.15)"))
      .concat(bandDatasets(g, "Gold accuracy", BLUE, BAND_BLUE));
    new Chart(canvas, {
      type: "line",
      data: { labels: labels, datasets: datasets },
      options: {
        spanGaps: true,
        scales: { y: unitAxis },
        plugins: { legend: hideBandLegend, tooltip: tooltipWithN([a, a, a, s, s, s, g, g, g]) }
      }
    });
  })();

  // --- Rates with intervals, one row per annotator ------------------------------------------------
  function intervalChart(name, rows, label, reference) {
    const canvas = canvasOf(name);
    if (!canvas || !rows.length) return;
    const names = rows.map(function (r) { return r.name; });
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: names,
        datasets: [
          { type: "bar", label: "95% interval", data: rows.map(function (r) { return [r.lo, r.hi]; }), backgroundColor: rows.map(function (r) { return r.flagged ? "rgba(213, 94, 0, 0.35)" : BAND_BLUE; }), borderColor: rows.map(function (r) { return r.flagged ? VERMILION : BLUE; }), borderWidth: 1, barPercentage: 0.55 },
          { type: "line", label: label, data: rows.map(function (r) { return r.v; }), showLine: false, pointRadius: 4, pointStyle: "circle", borderColor: "#111827", backgroundColor: "#111827" }
        ]
      },
      options: {
        indexAxis: "y",
        scales: { x: unitAxis },
        plugins: {
          referenceLine: { value: reference },
          tooltip: { callbacks: { label: function (ctx) { const r = rows[ctx.dataIndex]; return r.name + ": " + pct(r.v) + " (" + r.k + " of " + r.n + "; 95% " + pct(r.lo) + "–" + pct(r.hi) + ")"; } } }
        }
      }
    });
  }

  intervalChart("gold-now", data.gold_now, "Gold accuracy", data.min_gold_accuracy);
  intervalChart("position-bias", data.bias.position_bias, "Picked the response shown first", 0.5);
  const lengthRows = data.bias.length_bias;
  const expected = lengthRows.length ? lengthRows[0].expected : null; // the stream's consensus share, the same for all
  intervalChart("length-bias", lengthRows, "Picked the longer response", expected);

  // --- Counts ----------------------------------------------------------------------------------------
  function countChart(name, labels, values, label, colour) {
    const canvas = canvasOf(name);
    if (!canvas || !labels.length) return;
    new Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: [{ label: label, data: values, backgroundColor: colour }] },
      options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
  }
  countChart("throughput", data.throughput.map(function (d) { return d.day; }), data.throughput.map(function (d) { return d.n; }), "Judgements", BLUE);
  countChart("time-histogram", data.time_histogram.map(function (b) { return b.bin; }), data.time_histogram.map(function (b) { return b.n; }), "Judgements", GREEN);
})();
