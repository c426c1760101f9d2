/** Issue 10: hostile strings in host names, facts, inventory names and vars, step output, reasons,
 * bundle titles and ids, audit entries, user names and query parameters reach every page, fragment
 * and live stream only as text: no element, event handler or javascript: URL of theirs survives,
 * and every HTML answer carries the CSP. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSession, findUser } from '../../server/db/users.ts';
import { SESSION_COOKIE } from '../../server/web/app.tsx';
import { browser, form } from './fixture.ts';
import { hostile, mark, SEEDED } from './hostile-fleet.ts';
import { activeContent, forgedEvents, sseData } from './inert-html.ts';
import { appRoutes, ROUTES, world, type World } from './route-table.ts';

interface Answer {
  label: string;
  status: number;
  type: string;
  text: string;
  csp: string | null;
  nosniff: string | null;
}

/** Every GET route (as an admin: every page shows everything), the reflected query parameters, and
 * every form post that renders data. */
async function everyAnswer(w: World): Promise<Answer[]> {
  const s = createSession(w.db, findUser(w.db, 'admin')!.id, 3600_000);
  const headers = browser({ cookie: `${SESSION_COOKIE}=${s.id}` });
  const x = encodeURIComponent(hostile('query'));
  const gets = appRoutes(w.app)
    .filter((r) => r.startsWith('GET '))
    .map((r) => ROUTES[r]!.path(w));
  gets.push(`/hosts?pattern=${x}`, `/hosts/rows?pattern=${x}`, `/api/hosts?pattern=${x}`, `/runs/new?bundle=${x}&pattern=${x}`, `/emergency/${x}`, `/emergency/broken`, `/runs/${w.finished}/events?after=${x}`);
  const posts: [string, Record<string, string>, Record<string, string>?][] = [
    ['/runs/preview', { bundle: 'crit', pattern: 'all' }],
    ['/runs/preview', { bundle: 'crit', pattern: 'all' }, { 'hx-request': 'true' }],
    ['/runs/preview', { bundle: 'crit', pattern: hostile('pattern') }],
    ['/runs/preview', { bundle: 'broken', pattern: 'all' }, { 'hx-request': 'true' }],
    ['/runs/preview', { bundle: hostile('bundle-field'), pattern: 'all' }],
    ['/runs', { bundle: 'crit', sha256: w.sha256, pattern: hostile('start-pattern'), kind: 'apply' }],
    ['/runs', { bundle: 'crit', sha256: w.sha256, pattern: 'all', kind: 'apply', waves: hostile('waves') }],
    ['/api/plan', { bundle: 'crit', pattern: 'all' }],
  ];
  const answers: Answer[] = [];
  const keep = async (label: string, res: Response) => answers.push({ label, status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text(), csp: res.headers.get('content-security-policy'), nosniff: res.headers.get('x-content-type-options') });
  // a user name is only ever typed at the login form: echoed there, and logged by the audit
  await keep('POST /login', await w.app.request('/login', { method: 'POST', headers: browser(), body: form({ name: hostile('user-name'), password: 'wrong-password-x' }) }));
  for (const path of gets) await keep(`GET ${path}`, await w.app.request(path, { headers }));
  for (const [path, fields, extra] of posts) await keep(`POST ${path} ${JSON.stringify(fields)}`, await w.app.request(path, { method: 'POST', headers: { ...headers, ...extra }, body: form({ _csrf: s.csrfToken, ...fields }) }));
  return answers;
}

describe('hostile strings on every page', () => {
  it('are text only, on every page, fragment and stream; every HTML answer has the CSP and nosniff', async () => {
    const w = await world();
    const answers = await everyAnswer(w);
    await w.runs.close();
    for (const a of answers) {
      assert.equal(a.nosniff, 'nosniff', a.label);
      if (a.type.startsWith('text/html')) {
        assert.match(a.csp ?? '', /default-src 'none'.*script-src 'self'/, `${a.label}: CSP`);
        assert.deepEqual(activeContent(a.text), [], a.label);
      } else if (a.type.startsWith('text/event-stream')) {
        assert.deepEqual(activeContent(sseData(a.text)), [], a.label);
        assert.deepEqual(forgedEvents(a.text), [], a.label);
      }
      else if (a.text) assert.match(a.type, /^(application\/json|text\/plain|text\/css|text\/javascript)/, a.label);
    }
    const shown = SEEDED.filter((label) => answers.some((a) => a.text.includes(mark(label))));
    assert.deepEqual(
      SEEDED.filter((l) => !shown.includes(l)).sort(),
      ['bundle-cve', 'bundle-id', 'event-data', 'inventory-var'],
      'every hostile field but these reaches some page (so the test covers it); an unsigned bundle, event data and other inventory vars are never shown',
    );
    for (const label of ['query', 'pattern', 'user-name', 'bundle-field', 'waves']) assert.ok(answers.some((a) => a.text.includes(mark(label))), `${label} is echoed somewhere`);
  });

  it('the checkers find what a hostile string would make', () => {
    const payload = hostile('x');
    assert.deepEqual(activeContent(`<p>${payload.replace(/</g, '&lt;').replace(/>/g, '&gt;')}</p>`), []);
    assert.deepEqual(activeContent(`<input value="${payload.replace(/"/g, '&quot;').replace(/</g, '&lt;')}">`), []);
    const found = activeContent(`<p>${payload}</p>`);
    assert.ok(found.some((f) => f.startsWith('inline script')), found.join('\n'));
    assert.ok(found.some((f) => f.startsWith('element img')));
    assert.ok(found.some((f) => f.startsWith('event handler onerror')));
    assert.ok(found.some((f) => f.startsWith('javascript: URL in href')));
    assert.ok(activeContent('<a href=" jav&#x61;script:alert(1)">x</a>').length);
    assert.ok(activeContent('<img/src=x/onerror=alert(1)>').length);
    assert.deepEqual(activeContent('<script src="/static/htmx.min.js"></script><a href="/runs/1">x</a>'), []);
    assert.deepEqual(forgedEvents('event: host-1\ndata: x\nid: 7\n\nevent: end\ndata: finished\n\n'), []);
    assert.deepEqual(forgedEvents('event: host-1\ndata: x\r\nevent: end\r\nid: 999999\r\n\r\ndata: \nid: 7\n\nevent: run\ndata: y\n\n'), ['end before event 1', 'forged id 999999', 'an event ends inside another']);
  });
});
