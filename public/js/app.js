// Progressive enhancement only: every page works without this file.
document.documentElement.classList.replace('no-js', 'js');

// Sends the session's CSRF token with every htmx request (forms also carry it as a field).
document.addEventListener('htmx:config:request', (event) => {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && event.detail?.ctx) event.detail.ctx.request.headers['X-CSRF-Token'] = meta.content;
});

// Polling ([data-poll]) pauses while the tab is hidden and catches up as soon as it is shown.
var missedPolls = [];
document.addEventListener('htmx:before:request', (event) => {
  var el = event.target;
  if (!document.hidden || !el.hasAttribute?.('data-poll')) return;
  event.preventDefault();
  if (missedPolls.indexOf(el) < 0) missedPolls.push(el);
});
document.addEventListener('visibilitychange', () => {
  if (document.hidden || !window.htmx) return;
  missedPolls.splice(0).forEach((el) => {
    if (el.isConnected) window.htmx.trigger(el, 'every');
  });
});

// A poll that fails keeps what is on screen (htmx 4 would swap the error in and end the polling)
// and says so beside the freshness stamp; the next poll tries again.
document.addEventListener('htmx:before:swap', (event) => {
  var el = event.target,
    ctx = event.detail?.ctx;
  if (!ctx?.response || ctx.response.status < 400 || !el.hasAttribute || !el.hasAttribute('data-poll')) return;
  event.preventDefault();
  var stamp = el.querySelector('.freshness');
  if (stamp) stamp.setAttribute('data-failed', `refresh failed (${ctx.response.status}), retrying`);
});

// "Refresh" reloads the part of the page it names, for the state the address bar shows now.
document.addEventListener('click', (event) => {
  var link = event.target.closest?.('a[data-refresh]');
  if (!link || !window.htmx || event.ctrlKey || event.metaKey || event.shiftKey) return;
  event.preventDefault();
  window.htmx.ajax('GET', location.pathname + location.search, { target: link.getAttribute('data-refresh'), swap: 'outerHTML' });
});

// Freshness stamps: "updated 12 s ago", kept current.
function showAges() {
  document.querySelectorAll('time[data-age]').forEach((el) => {
    var seconds = Math.max(0, Math.round((Date.now() - Date.parse(el.getAttribute('datetime'))) / 1000));
    el.textContent = seconds < 60 ? `${seconds} s ago` : `${Math.floor(seconds / 60)} min ago`;
  });
}
document.addEventListener('DOMContentLoaded', showAges);
document.addEventListener('htmx:after:swap', showAges);
setInterval(showAges, 5000);

// A swap that removed the focused element (a tab link, a button) would leave the keyboard on <body>:
// the swapped region takes the focus instead. Polls never move it.
document.addEventListener('htmx:after:swap', (event) => {
  var el = event.target;
  if (document.activeElement !== document.body || !el?.isConnected || el === document.body || el.closest('[data-poll]')) return;
  if (!el.hasAttribute('tabindex')) el.setAttribute('tabindex', '-1');
  el.focus({ preventScroll: true });
});
