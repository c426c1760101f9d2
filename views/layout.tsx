/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/** The page frame: our own CSS and scripts only (the CSP allows nothing else), the session's
 * CSRF token sent by htmx on every request, and the navigation for the user's role. */
import type { Child } from 'hono/jsx';

export interface Viewer {
  name: string;
  role: string;
  csrfToken: string;
}

const HTMX_CONFIG = JSON.stringify({ includeIndicatorStyles: false, allowEval: false, allowScriptTags: false, selfRequestsOnly: true });

export function Layout(props: { title: string; viewer?: Viewer; children: Child }) {
  const v = props.viewer;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="htmx-config" content={HTMX_CONFIG} />
        <title>{props.title} · fleetpatch</title>
        <link rel="stylesheet" href="/static/app.css" />
        <link rel="stylesheet" href="/static/forms.css" />
        <script src="/static/htmx.min.js"></script>
        <script src="/static/live.js" defer></script>
      </head>
      <body hx-headers={v ? JSON.stringify({ 'x-csrf-token': v.csrfToken }) : undefined}>
        <header>
          <strong>fleetpatch</strong>
          {v && (
            <nav>
              <a href="/hosts">Hosts</a> <a href="/bundles">Bundles</a> <a href="/runs">Runs</a> {v.role !== 'viewer' && <a href="/runs/new">New run</a>} {v.role === 'admin' && <a href="/audit">Audit</a>}
              <span class="who">
                {v.name} ({v.role})
              </span>
              <form method="post" action="/logout" class="inline">
                <input type="hidden" name="_csrf" value={v.csrfToken} />
                <button type="submit">Log out</button>
              </form>
            </nav>
          )}
        </header>
        <main>{props.children}</main>
      </body>
    </html>
  );
}
