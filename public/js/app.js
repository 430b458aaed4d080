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

// ---- Busy and unreachable (issue 13 items 1 and 11) ------------------------------------------------
// While a request runs, what started it says so where the admin clicked: the element is aria-busy, its
// submit buttons are disabled and read their data-busy-text ("Deploying…", "Testing…", else
// "Working…"), and the region it will replace is marked aria-busy (dimmed: its result is stale). Plain
// forms get the same, and data-clears="selector" hides an old result they will replace (a flash). A
// request that never reaches the server leaves a visible message beside its trigger. Polls stay quiet.
function busyButtons(el) {
  return el.tagName === 'FORM' ? Array.from(el.querySelectorAll('button[type="submit"], button:not([type])')) : [];
}
function setBusy(el, region) {
  document.querySelectorAll('.request-failed').forEach((p) => p.remove());
  el.setAttribute('aria-busy', 'true');
  if (region && region !== document.body) region.setAttribute('aria-busy', 'true');
  busyButtons(el).forEach((b) => {
    b.dataset.idleText = b.textContent;
    b.textContent = b.getAttribute('data-busy-text') || 'Working…';
    b.disabled = true;
  });
  var clears = el.getAttribute('data-clears');
  if (clears) document.querySelectorAll(clears).forEach((old) => old.setAttribute('hidden', ''));
}
function setIdle(el, region) {
  el.removeAttribute('aria-busy');
  if (region) region.removeAttribute('aria-busy');
  busyButtons(el).forEach((b) => {
    if (b.dataset.idleText === undefined) return;
    b.textContent = b.dataset.idleText;
    delete b.dataset.idleText;
    b.disabled = false;
  });
}
// Polls, and requests with no element of their own (htmx.ajax from a Refresh link), show no busy state.
var quiet = (el) => !el.closest || el === document.body || el.closest('[data-poll]');
document.addEventListener('htmx:before:request', (event) => {
  var el = event.target;
  if (event.defaultPrevented || quiet(el)) return;
  setBusy(el, event.detail?.ctx?.target);
});
document.addEventListener('htmx:finally:request', (event) => {
  if (!quiet(event.target)) setIdle(event.target, event.detail?.ctx?.target);
});
document.addEventListener('htmx:error', (event) => {
  var el = event.target;
  if (quiet(el) || !el.isConnected) return;
  var message = document.createElement('p');
  message.className = 'request-failed notice';
  message.setAttribute('role', 'alert');
  message.textContent = 'Could not reach the server — try again.';
  (el.closest('nav, form') || el).after(message);
});
// Plain forms (htmx took over the others): the submitter is disabled after the submission has read it.
document.addEventListener('submit', (event) => {
  var form = event.target;
  if (event.defaultPrevented || form.tagName !== 'FORM') return;
  setTimeout(() => setBusy(form), 0);
});
// Back from the next page (bfcache): the form is usable again.
window.addEventListener('pageshow', () => {
  document.querySelectorAll('form[aria-busy]').forEach((form) => setIdle(form));
});

// A file chooser ([data-file-into] = a textarea's id; shown only with JavaScript) puts the chosen
// file's text in that textarea: the test-case import reads a JSONL file without a multipart upload.
document.addEventListener('change', (event) => {
  var input = event.target,
    area = document.getElementById(input.getAttribute?.('data-file-into') || '');
  if (!area || !input.files?.[0]) return;
  input.files[0].text().then((text) => {
    area.value = text;
  });
});
