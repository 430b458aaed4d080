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

  // The buckets the range cuts short (spec.partial: a clipped first one, the one under way) hold
  // fewer minutes than the others, so they are drawn apart (.ct-partial) instead of as a cliff. Lines
  // and areas: each series loses them, and a companion series of the same colour holds them and the
  // segment to their neighbour. Bars: the bar itself is marked (see mark()).
  function seriesOf(spec) {
    var partial = spec.partial || [];
    var split = spec.kind !== 'bar' && partial.length > 0;
    var near = (i) => partial.some((p) => Math.abs(p - i) <= 1);
    var series = [];
    spec.series.forEach((s, i) => {
      var className = `ct-series-${String.fromCharCode(97 + i)}`;
      if (!split) {
        series.push({ name: s.name, className, data: s.data });
      } else {
        series.push({ name: s.name, className, data: s.data.map((v, j) => (partial.includes(j) ? null : v)) });
        series.push({ name: s.name, className: `${className} ct-partial`, data: s.data.map((v, j) => (near(j) ? v : null)) });
      }
    });
    return series;
  }

  // A companion keeps only its partial buckets' points (its neighbours are the main series' own);
  // a partial bucket's bar is marked.
  function mark(spec, data) {
    var partial = spec.partial || [];
    if (data.type === 'bar' && partial.includes(data.index)) data.element.addClass('ct-partial');
    if (data.type === 'point' && / ct-partial$/.test(data.series.className || '') && !partial.includes(data.index)) data.element.remove();
  }

  // A vertical line where a model change took effect, with what it changed to written beside it
  // (marker.text, e.g. "→ GPT-4o mini") and the whole change as a tooltip.
  function drawMarkers(ctx, spec) {
    var offset = spec.kind === 'bar' ? ctx.axisX.stepLength / 2 : 0;
    spec.markers.forEach((marker, i) => {
      var x = ctx.chartRect.x1 + ctx.axisX.projectValue(null, marker.index) + offset;
      var line = ctx.svg.elem('line', { x1: x, x2: x, y1: ctx.chartRect.y2, y2: ctx.chartRect.y1 }, 'ct-marker');
      var title = document.createElementNS(SVG_NS, 'title');
      title.textContent = marker.label;
      line.getNode().appendChild(title);
      if (marker.text) {
        const anchor = x > ctx.chartRect.x2 - 80 ? 'end' : 'start';
        const label = ctx.svg.elem(
          'text',
          { x: x + (anchor === 'end' ? -3 : 3), y: ctx.chartRect.y2 + 10 + (i % 2) * 11 },
          'ct-marker-label',
        );
        label.getNode().setAttribute('text-anchor', anchor);
        label.getNode().textContent = marker.text;
      }
    });
  }

  // A dashed horizontal line at the feature's threshold (spec.threshold), labelled, when it is within the axis.
  function drawThreshold(ctx, spec) {
    var t = spec.threshold;
    if (!t) return;
    var y = ctx.chartRect.y1 - ctx.axisY.projectValue(t.value);
    if (y < ctx.chartRect.y2 || y > ctx.chartRect.y1) return;
    ctx.svg.elem('line', { x1: ctx.chartRect.x1, x2: ctx.chartRect.x2, y1: y, y2: y }, 'ct-threshold');
    var label = ctx.svg.elem('text', { x: ctx.chartRect.x2, y: y - 3 }, 'ct-threshold-label');
    label.getNode().setAttribute('text-anchor', 'end');
    label.getNode().textContent = t.label;
  }

  // The y axis reaches the threshold, so its line is always in view.
  function axisHigh(spec) {
    if (!spec.threshold) return undefined;
    var values = spec.series.flatMap((s) => s.data).filter((v) => v !== null);
    return Math.max(spec.threshold.value * 1.1, ...values);
  }

  function draw(el) {
    if (el.getAttribute('data-drawn') || !window.Chartist) return;
    el.setAttribute('data-drawn', 'true');
    var spec = JSON.parse(el.getAttribute('data-chart'));
    var every = Math.max(1, Math.ceil(spec.labels.length / 8));
    var data = { labels: spec.labels, series: seriesOf(spec) };
    var options = {
      width: '100%',
      height: '220px',
      fullWidth: true,
      chartPadding: { top: 12, right: 36, bottom: 0, left: 8 },
      axisX: { showGrid: false, labelInterpolationFnc: (v, i) => (i % every === 0 ? v : null) },
      axisY: { onlyInteger: spec.unit === 'requests', high: axisHigh(spec), labelInterpolationFnc: (v) => v + suffix(spec.unit) },
    };
    var chart =
      spec.kind === 'bar'
        ? new window.Chartist.BarChart(el, data, options)
        : new window.Chartist.LineChart(
            el,
            data,
            Object.assign({ showArea: spec.kind === 'area', showPoint: spec.labels.length < 40, lineSmooth: false }, options),
          );
    chart.on('draw', (data) => mark(spec, data));
    chart.on('created', (ctx) => {
      drawMarkers(ctx, spec);
      drawThreshold(ctx, spec);
    });
    var table = el.parentNode.querySelector('details.chart-data');
    if (table) table.open = false;
  }

  function drawAll() {
    document.querySelectorAll('[data-chart]').forEach(draw);
  }

  // Loaded with the page, or later (public/js/live.js loads it when a swap brings the first chart).
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', drawAll);
  else drawAll();
  document.addEventListener('htmx:after:swap', drawAll);
})();
