// The features page, live: every few seconds the open overview asks its live check (data-live, a
// cheap query answering 204 while nothing changed) and, when the feature has a new event, refreshes
// itself (the event live-changed in its hx-trigger). It also loads the charting library the first
// time a swap brings a chart into a page rendered without one (a tab without charts).
(() => {
  var EVERY_MS = 3000;
  var busy = false;

  async function check() {
    var el = document.querySelector('[data-live]');
    if (busy || !el || document.hidden) return;
    busy = true;
    try {
      const res = await fetch(el.getAttribute('data-live'), { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
      // The overview may have been swapped meanwhile; only the one that asked is refreshed.
      if (res.status === 200 && el.isConnected) el.dispatchEvent(new CustomEvent('live-changed'));
    } catch {
      // Offline or the server restarting: the next tick asks again.
    } finally {
      busy = false;
    }
  }

  function load(tag, attrs) {
    return new Promise((resolve, reject) => {
      var node = document.createElement(tag);
      Object.assign(node, attrs, { onload: resolve, onerror: reject });
      document.head.appendChild(node);
    });
  }

  var loading = null;
  function chartsWanted() {
    if (loading || window.Chartist || !document.querySelector('[data-chart]')) return;
    loading = load('link', { rel: 'stylesheet', href: '/static/vendor/chartist.css' })
      .then(() => load('script', { src: '/static/vendor/chartist.umd.js' }))
      .then(() => load('script', { src: '/static/js/charts.js' }));
  }

  setInterval(check, EVERY_MS);
  document.addEventListener('htmx:after:swap', chartsWanted);
})();
