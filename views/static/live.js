// The run page follows its run over one EventSource (GET /runs/:id/events, see docs/web.md):
// every element with data-swap="<event>" takes that event's HTML as its content. Rows are plain
// innerHTML swaps, not htmx swaps: htmx parses each fragment into a new document (≈1.5 ms per row
// update in Chromium, too much for a 1,000-host run watched from a laptop). The swapped element
// fires `live` (bubbling: the web bench counts them); a host row's swap reloads the host's step
// log if it is open (the row under it, #steps-N, has content). The reload is asked for here, not
// by an hx-trigger on the log:
// htmx installs a swapped-in element's triggers only when it settles (20 ms later), and an event
// arriving in between would be missed.
// The browser reconnects by itself with Last-Event-ID; `end` closes the stream for good.
document.addEventListener('DOMContentLoaded', () => {
  const root = document.querySelector('[data-events]');
  if (!root) return;
  const status = document.getElementById('live-status');
  // root's data-live says where the stream is (open, reconnecting, stopped, ended); tests wait on it
  const say = (state, text) => {
    root.dataset.live = state;
    if (status) status.textContent = text;
  };
  const source = new EventSource(root.dataset.events);
  for (const el of root.querySelectorAll('[data-swap]')) {
    source.addEventListener(el.dataset.swap, (e) => {
      el.innerHTML = e.data;
      htmx.process(el);
      const log = el.id.startsWith('hr-') ? document.getElementById(`steps-${el.id.slice(3)}`) : null;
      if (log && log.firstElementChild) htmx.ajax('GET', log.dataset.log, { target: log, swap: 'innerHTML' });
      el.dispatchEvent(new CustomEvent('live', { bubbles: true }));
    });
  }
  source.addEventListener('open', () => {
    say('open', '');
    root.dispatchEvent(new CustomEvent('live:open', { bubbles: true }));
  });
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) say('stopped', 'Live updates stopped: reload the page.');
    else say('reconnecting', 'Connection to the server lost; reconnecting…');
    root.dispatchEvent(new CustomEvent('live:error', { bubbles: true }));
  });
  source.addEventListener('end', () => {
    source.close();
    say('ended', '');
  });
});
