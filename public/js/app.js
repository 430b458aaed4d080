// Sends the session's CSRF token with every htmx request (forms also carry it as a field).
document.addEventListener('htmx:config:request', function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && event.detail && event.detail.ctx) event.detail.ctx.request.headers['X-CSRF-Token'] = meta.content;
});
