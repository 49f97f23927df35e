// Draws every [data-chart] element with uPlot from the json_script it names; redraws after htmx swaps.
(function () {
  "use strict";
  var palette = ["#2f6fde", "#e0701b", "#1f9d55", "#d33a3a", "#8e44ad", "#20b2aa", "#d4a017", "#6a7686"];

  function draw(el) {
    var source = document.getElementById(el.dataset.chart);
    if (!source || typeof uPlot === "undefined") return;
    var data = JSON.parse(source.textContent);
    el.innerHTML = "";
    if (!data.timestamps || data.timestamps.length === 0) {
      el.innerHTML = '<div class="chart-empty">No data in this range yet.</div>';
      return;
    }
    var metric = el.dataset.metric;
    var series = [{}];
    var columns = [data.timestamps];
    data.series.forEach(function (s, i) {
      series.push({ label: s.name, stroke: palette[i % palette.length], width: 1.6, spanGaps: true,
                    value: function (u, v) { return v == null ? "–" : v.toFixed(metric === "p95" ? 0 : 2) + " " + el.dataset.unit; } });
      columns.push(s[metric]);
    });
    var width = Math.max(280, el.clientWidth || el.parentElement.clientWidth - 32);
    // Vertical markers (e.g. when a recovery action started and finished), drawn over the plot.
    var marks = data.marks || [];
    var drawMarks = function (u) {
      var ctx = u.ctx;
      marks.forEach(function (m) {
        var x = Math.round(u.valToPos(m.at, "x", true));
        ctx.save(); ctx.strokeStyle = "#6a7686"; ctx.setLineDash([4, 4]); ctx.lineWidth = 1;
        ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
        ctx.setLineDash([]); ctx.fillStyle = "#3a4656"; ctx.font = (11 * devicePixelRatio) + "px sans-serif";
        ctx.fillText(m.label, x + 4, u.bbox.top + 12 * devicePixelRatio); ctx.restore();
      });
    };
    new uPlot({ width: width, height: 200, series: series, legend: { live: true }, hooks: { draw: [drawMarks] },
                axes: [{}, { size: 56 }], scales: { x: { time: true, range: function () { return [data.start, data.end]; } }, y: { range: function (u, min, max) { return [0, Math.max(max || 1, metric === "p95" ? 1 : 0.1) * 1.1]; } } } },
              columns, el);
  }

  function drawAll(root) { (root || document).querySelectorAll("[data-chart]").forEach(draw); }
  document.addEventListener("DOMContentLoaded", function () { drawAll(); });
  document.body.addEventListener("htmx:afterSwap", function (event) { drawAll(event.detail.elt.parentElement || document); });
  var resizeTimer = null;
  window.addEventListener("resize", function () { clearTimeout(resizeTimer); resizeTimer = setTimeout(drawAll, 200); });
})();
