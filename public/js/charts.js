// Draws every chart the server embedded ([data-chart]: labels, series, change markers) with
// chartist, on load and after each htmx swap. The same numbers stay in the table beside each chart.
(() => {
  var SVG_NS = 'http://www.w3.org/2000/svg';

  // Chartist writes a few style attributes, which the Content-Security-Policy refuses (style-src
  // 'self'); the same declarations applied through the CSSOM are allowed.
  if (window.Chartist?.Svg) {
    const attr = window.Chartist.Svg.prototype.attr;
    window.Chartist.Svg.prototype.attr = function (attributes, ns, ...more) {
      if (attributes && typeof attributes === 'object' && typeof attributes.style === 'string') {
        const rest = Object.assign({}, attributes);
        this.getNode().style.cssText += rest.style;
        delete rest.style;
        return attr.call(this, rest, ns);
      }
      return attr.call(this, attributes, ns, ...more);
    };
  }

  function suffix(unit) {
    return unit === '%' ? '%' : '';
  }

  // A vertical line (with its label as a tooltip) where a model change took effect.
  function drawMarkers(ctx, spec) {
    var offset = spec.kind === 'bar' ? ctx.axisX.stepLength / 2 : 0;
    spec.markers.forEach((marker) => {
      var x = ctx.chartRect.x1 + ctx.axisX.projectValue(null, marker.index) + offset;
      var line = ctx.svg.elem('line', { x1: x, x2: x, y1: ctx.chartRect.y2, y2: ctx.chartRect.y1 }, 'ct-marker');
      var title = document.createElementNS(SVG_NS, 'title');
      title.textContent = marker.label;
      line.getNode().appendChild(title);
    });
  }

  function draw(el) {
    if (el.getAttribute('data-drawn') || !window.Chartist) return;
    el.setAttribute('data-drawn', 'true');
    var spec = JSON.parse(el.getAttribute('data-chart'));
    var every = Math.max(1, Math.ceil(spec.labels.length / 8));
    var data = { labels: spec.labels, series: spec.series };
    var options = {
      width: '100%',
      height: '220px',
      fullWidth: true,
      chartPadding: { top: 12, right: 36, bottom: 0, left: 8 },
      axisX: { showGrid: false, labelInterpolationFnc: (v, i) => (i % every === 0 ? v : null) },
      axisY: { onlyInteger: spec.unit === 'requests', labelInterpolationFnc: (v) => v + suffix(spec.unit) },
    };
    var chart =
      spec.kind === 'bar'
        ? new window.Chartist.BarChart(el, data, options)
        : new window.Chartist.LineChart(
            el,
            data,
            Object.assign({ showArea: spec.kind === 'area', showPoint: spec.labels.length < 40, lineSmooth: false }, options),
          );
    chart.on('created', (ctx) => {
      drawMarkers(ctx, spec);
    });
    var table = el.parentNode.querySelector('details.chart-data');
    if (table) table.open = false;
  }

  function drawAll() {
    document.querySelectorAll('[data-chart]').forEach(draw);
  }

  document.addEventListener('DOMContentLoaded', drawAll);
  document.addEventListener('htmx:after:swap', drawAll);
})();
