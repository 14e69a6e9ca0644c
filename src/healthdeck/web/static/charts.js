/* healthdeck charts: draws every <figure class="chart"> from its JSON data island with uPlot.
 *
 * The island (a <script type="application/json" class="chart-data">) holds
 *   {"x": [epoch seconds...], "series": [{"label", "values": [number|null...], "unit"}],
 *    "y_label": "...", "thresholds": {"good": n, "critical": n}}   (thresholds optional)
 * Nothing is computed here: the server sends the numbers, this file only draws them. The figure's
 * data table (the accessible alternative) is the server's too; the canvas is aria-hidden.
 * Redraws on DOMContentLoaded, on the `healthdeck:swapped` event (console.js swaps live content) and
 * when the theme changes (colours are read from CSS custom properties).
 */
(function () {
  "use strict";

  var NARROW = 480; // px: below this width a chart is shorter and has no legend
  var drawn = []; // {figure, plot, observer, narrow}

  function cssColour(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function palette() {
    return {
      series: ["--chart-1", "--chart-2", "--chart-3", "--chart-4"].map(function (name) {
        return cssColour(name, "#1f77b4");
      }),
      grid: cssColour("--grid", "rgba(128,128,128,0.3)"),
      text: cssColour("--text", "#222"),
      good: cssColour("--good", "#2a7d2e"),
      critical: cssColour("--critical", "#b3261e"),
    };
  }

  function withUnit(value, unit) {
    if (value === null || value === undefined) return "–";
    if (!unit) return String(value);
    return /^[%\/×:]/.test(unit) ? value + unit : value + " " + unit; // 99.5%, 3/s; 120 ms
  }

  // Keep the threshold lines in view: the y range spans the data and the thresholds.
  function yRange(thresholds) {
    var marks = Object.keys(thresholds).map(function (key) { return thresholds[key]; });
    return function (u, min, max) {
      marks.forEach(function (mark) {
        if (min === null || mark < min) min = mark;
        if (max === null || mark > max) max = mark;
      });
      return uPlot.rangeNum(min, max, 0.1, true);
    };
  }

  function thresholdHook(thresholds, colours) {
    return function (u) {
      var ctx = u.ctx;
      ctx.save();
      ctx.lineWidth = 2 * devicePixelRatio;
      ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
      Object.keys(thresholds).forEach(function (name) {
        var y = Math.round(u.valToPos(thresholds[name], "y", true));
        ctx.strokeStyle = name === "good" ? colours.good : colours.critical;
        ctx.beginPath();
        ctx.moveTo(u.bbox.left, y);
        ctx.lineTo(u.bbox.left + u.bbox.width, y);
        ctx.stroke();
      });
      ctx.restore();
    };
  }

  // As wide as its longest tick label (uPlot's own recipe): "99.95%" and "52,400 USD" are never cut.
  function axisSize(u, values, axisIdx, cycleNum) {
    var axis = u.axes[axisIdx];
    if (cycleNum > 1) return axis._size;
    var size = axis.ticks.size + axis.gap;
    var longest = (values || []).reduce(function (a, v) { return v.length > a.length ? v : a; }, "");
    if (longest) {
      u.ctx.font = axis.font[0];
      size += u.ctx.measureText(longest).width / devicePixelRatio;
    }
    return Math.ceil(size) + 4;
  }

  function options(data, width, colours) {
    var narrow = width < NARROW;
    var unit = data.series.length ? data.series[0].unit : "";
    var axis = { stroke: colours.text, grid: { stroke: colours.grid, width: 1 }, ticks: { stroke: colours.grid } };
    var yAxis = Object.assign({}, axis, {
      label: narrow ? undefined : data.y_label,
      size: axisSize,
      values: function (u, ticks) { return ticks.map(function (v) { return withUnit(v, unit); }); },
    });
    var thresholds = {};
    Object.keys(data.thresholds || {}).forEach(function (name) {
      if (typeof data.thresholds[name] === "number") thresholds[name] = data.thresholds[name];
    });
    return {
      width: width,
      height: narrow ? 120 : 220,
      legend: { show: !narrow },
      scales: { x: { time: true }, y: { range: yRange(thresholds) } },
      axes: [axis, yAxis],
      series: [{}].concat(data.series.map(function (s, i) {
        return {
          label: s.label,
          stroke: colours.series[i % colours.series.length],
          width: 2,
          spanGaps: false, // a null is a gap, never a line drawn through missing data
          value: function (u, v) { return withUnit(v, s.unit); },
        };
      })),
      hooks: { draw: [thresholdHook(thresholds, colours)] },
    };
  }

  function canvasOf(figure) {
    var canvas = figure.querySelector(".chart-canvas");
    if (!canvas) {
      canvas = document.createElement("div");
      canvas.className = "chart-canvas";
      canvas.setAttribute("aria-hidden", "true");
      figure.insertBefore(canvas, figure.querySelector("figcaption"));
    }
    return canvas;
  }

  function draw(figure, colours) {
    var island = figure.querySelector("script.chart-data");
    if (!island) return;
    var data;
    try {
      data = JSON.parse(island.textContent);
    } catch (error) {
      console.error("healthdeck charts: unreadable chart data", error);
      return; // the data table still says it all
    }
    var canvas = canvasOf(figure);
    canvas.textContent = "";
    var width = canvas.clientWidth || figure.clientWidth;
    var columns = [data.x].concat(data.series.map(function (s) { return s.values; }));
    var entry = { figure: figure, narrow: width < NARROW };
    entry.plot = new uPlot(options(data, width, colours), columns, canvas);
    entry.observer = new ResizeObserver(function () { resized(entry, canvas); });
    entry.observer.observe(canvas);
    drawn.push(entry);
  }

  function resized(entry, canvas) {
    var width = canvas.clientWidth;
    if (!width || width === entry.plot.width) return;
    if (width < NARROW !== entry.narrow) {
      renderAll(); // the legend and height change: build the chart again
      return;
    }
    entry.plot.setSize({ width: width, height: entry.plot.height });
  }

  function destroyAll() {
    drawn.forEach(function (entry) {
      entry.observer.disconnect();
      entry.plot.destroy();
    });
    drawn = [];
  }

  function renderAll() {
    destroyAll();
    var colours = palette();
    document.querySelectorAll("figure.chart").forEach(function (figure) { draw(figure, colours); });
  }

  // A theme switch changes the custom properties: on the <html> element's class or data attributes,
  // or the system's colour scheme.
  new MutationObserver(renderAll).observe(document.documentElement, {
    attributes: true,
    attributeFilter: ["class", "data-theme", "style"],
  });
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", renderAll);
  document.addEventListener("healthdeck:swapped", renderAll);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", renderAll);
  } else {
    renderAll();
  }
  window.healthdeckCharts = { render: renderAll, plots: function () { return drawn.map(function (e) { return e.plot; }); } };
})();
