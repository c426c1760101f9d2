/** Our own static assets (htmx from node_modules, our script for the live run page, our CSS), read once and
 * served from a fixed table: no file system path ever comes from a request. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const VIEWS = resolve(dirname(fileURLToPath(import.meta.url)), '../../views');

export interface Asset {
  type: string;
  body: string;
  /** A strong validator of the body: a page load revalidates (304) instead of fetching it again. */
  etag: string;
}

const asset = (type: string, body: string): Asset => ({ type, body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });

export function loadAssets(): Map<string, Asset> {
  const js = 'text/javascript; charset=utf-8';
  return new Map<string, Asset>([
    ['htmx.min.js', asset(js, readFileSync(require.resolve('htmx.org/dist/htmx.min.js'), 'utf8'))],
    ['live.js', asset(js, readFileSync(resolve(VIEWS, 'static/live.js'), 'utf8'))],
    ['app.css', asset('text/css; charset=utf-8', readFileSync(resolve(VIEWS, 'static/app.css'), 'utf8'))],
    ['forms.css', asset('text/css; charset=utf-8', readFileSync(resolve(VIEWS, 'static/forms.css'), 'utf8'))],
  ]);
}
